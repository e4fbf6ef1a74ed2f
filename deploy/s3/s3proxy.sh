#!/usr/bin/env bash
# Assemble, start and stop S3Proxy, an S3-compatible server, on 127.0.0.1 (DESIGN.md §8).
#
#   deploy/s3/s3proxy.sh build                copy the S3Proxy jars from Maven Central into lib/
#   deploy/s3/s3proxy.sh start [DIR] [PORT]   start a server whose config, objects and log live in DIR,
#                                             wait until it answers HTTP, print its endpoint URL
#   deploy/s3/s3proxy.sh stop [DIR]           stop the server started in DIR (SIGTERM, then KILL)
#
# DIR defaults to deploy/s3/run; PORT to 9000 (0 picks a free port). The access key and secret come
# from S3_ACCESS_KEY / S3_SECRET_KEY (default scanbridge / scanbridge-secret, for local runs only).
# S3_BACKEND=filesystem (default: objects under DIR/data, kept across restarts) or transient (memory).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="${S3PROXY_LIB_DIR:-$here/lib}"
python="${PYTHON:-$here/../../.venv/bin/python}"

build() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  mkdir -p "$lib"
  mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib" >&2
  touch "$lib/.complete"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() {  # any HTTP answer (an unsigned request gets 403) means the server is up
  local url="$1" pid="$2" timeout="$3"
  "$python" - "$url" "$pid" "$timeout" <<'PY'
import os, sys, time, urllib.error, urllib.request
url, pid, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("s3proxy exited")
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("s3proxy did not answer in time")
PY
}

start() {
  local dir="${1:-$here/run}" port="${2:-9000}"
  build
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
    cat "$dir/endpoint"; return 0
  fi
  [ "$port" = 0 ] && port="$(free_port)"
  local provider="filesystem-nio2"
  [ "${S3_BACKEND:-filesystem}" = transient ] && provider="transient-nio2"
  mkdir -p "$dir/data"
  (umask 077; cat > "$dir/s3proxy.conf" <<PROPS
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=${S3_ACCESS_KEY:-scanbridge}
s3proxy.credential=${S3_SECRET_KEY:-scanbridge-secret}
jclouds.provider=$provider
jclouds.identity=local
jclouds.credential=local
jclouds.filesystem.basedir=$dir/data
PROPS
)
  nohup java -Xms64m -Xmx384m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
      -XX:ErrorFile="$dir/hs_err_%p.log" -Dlogback.configurationFile="$here/logback.xml" \
      -cp "$lib/*" org.gaul.s3proxy.Main --properties "$dir/s3proxy.conf" > "$dir/s3proxy.log" 2>&1 &
  echo $! > "$dir/server.pid"
  echo "http://127.0.0.1:$port" > "$dir/endpoint"
  if ! wait_ready "http://127.0.0.1:$port/" "$(cat "$dir/server.pid")" "${S3_START_TIMEOUT:-90}"; then
    echo "s3proxy did not become ready; last lines of $dir/s3proxy.log:" >&2
    tail -n 30 "$dir/s3proxy.log" >&2 || true
    stop "$dir"; return 1
  fi
  cat "$dir/endpoint"
}

stop() {
  local dir="${1:-$here/run}"
  [ -f "$dir/server.pid" ] || return 0
  local pid; pid="$(cat "$dir/server.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/server.pid"
}

case "${1:-}" in
  build) build ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
