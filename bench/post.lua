-- wrk script: POST valid iTero scan notifications ({"Id": <Rx GUID>, "CompanyId": 4242}) to wrk's URL,
-- cycling through 64 pre-built requests per thread, and print the figures as one JSON line at the end.
local prepared = {}
local count = 64
local next_index = 0

init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  for i = 1, count do
    local id = string.format("%08x-%04x-4%03x-a%03x-%06x%06x",
      math.random(0, 0x7fffffff), math.random(0, 0xffff), math.random(0, 0xfff),
      math.random(0, 0xfff), math.random(0, 0xffffff), math.random(0, 0xffffff))
    local body = '{"Id": "' .. id .. '", "CompanyId": 4242}'
    prepared[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
end

request = function()
  next_index = next_index % count + 1
  return prepared[next_index]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
