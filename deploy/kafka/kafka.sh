#!/usr/bin/env bash
# Assemble, start and stop a single-node KRaft Apache Kafka broker on 127.0.0.1 (DESIGN.md §6).
#
#   deploy/kafka/kafka.sh build                 copy the broker jars from Maven Central into lib/
#   deploy/kafka/kafka.sh start [DIR] [PORT]    start a broker whose data and logs live in DIR,
#                                               wait until it answers a metadata request, print
#                                               its bootstrap address
#   deploy/kafka/kafka.sh stop [DIR]            stop the broker started in DIR (SIGTERM, then KILL)
#
# DIR defaults to deploy/kafka/run; PORT to 9092 (0 picks a free port).
# KAFKA_SECURE=1 adds SASL_SSL, SSL (client certificate required) and SASL_PLAINTEXT listeners next to
# PLAINTEXT, with a CA, certificates, PLAIN and SCRAM users made by secure.py under DIR/secure/
# (listeners.json names their addresses, users.json the users).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="${KAFKA_LIB_DIR:-$here/lib}"
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

start() {
  local dir="${1:-$here/run}" port="${2:-9092}"
  build
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    cat "$dir/bootstrap"; return 0
  fi
  [ "$port" = 0 ] && port="$(free_port)"
  local ctrl; ctrl="$(free_port)"
  local extra_listeners="" extra_map="" scram=()
  if [ "${KAFKA_SECURE:-0}" = 1 ]; then
    "$python" "$here/secure.py" "$dir"
    # shellcheck source=/dev/null
    . "$dir/secure/env.sh"
    while IFS= read -r line; do scram+=(--add-scram "$line"); done < "$dir/secure/scram.args"
  fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl${extra_listeners:+,$extra_listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:$port${extra_listeners:+,$extra_listeners}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${extra_map:+,$extra_map}
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
PROPS
  if [ "${KAFKA_SECURE:-0}" = 1 ]; then cat "$dir/secure/broker.properties" >> "$dir/server.properties"; fi
  # A restart keeps the data: format only a new store (a new cluster id would not match the old one).
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -cp "$lib/*" kafka.tools.StorageTool format \
        -t "$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid)" \
        -c "$dir/server.properties" ${scram[@]+"${scram[@]}"} > "$dir/format.log" 2>&1
  fi
  mkdir -p "$dir/logs"
  nohup java -Xms256m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
      -XX:ErrorFile="$dir/hs_err_%p.log" -Dkafka.logs.dir="$dir/logs" \
      -Dlog4j2.configurationFile="$here/log4j2.properties" \
      -cp "$lib/*" kafka.Kafka "$dir/server.properties" > "$dir/kafka.log" 2>&1 &
  echo $! > "$dir/broker.pid"
  echo "127.0.0.1:$port" > "$dir/bootstrap"
  if ! "$python" "$here/wait_ready.py" "127.0.0.1:$port" "$(cat "$dir/broker.pid")" "${KAFKA_START_TIMEOUT:-120}"; then
    echo "kafka did not become ready; last lines of $dir/kafka.log:" >&2
    tail -n 30 "$dir/kafka.log" >&2 || true
    stop "$dir"; return 1
  fi
  cat "$dir/bootstrap"
}

stop() {
  local dir="${1:-$here/run}"
  [ -f "$dir/broker.pid" ] || return 0
  local pid; pid="$(cat "$dir/broker.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/broker.pid"
}

case "${1:-}" in
  build) build ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
