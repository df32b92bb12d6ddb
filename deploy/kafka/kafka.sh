#!/usr/bin/env bash
# Local single-node Kafka (KRaft) assembled from Maven Central jars.
#   kafka.sh fetch | up | down | status
# Idempotent: `up` reuses a broker already answering on the bootstrap address, `down` only stops
# the broker this script started (by its pid file).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${PARCELSTREAM_STATE_DIR:-$root/.state}/kafka"
libs="$state/libs"
data="$state/data"
pidfile="$state/kafka.pid"
logfile="$state/kafka.log"
host="${KAFKA_HOST:-127.0.0.1}"
port="${KAFKA_PORT:-9092}"
heap="${KAFKA_HEAP:-512m}"

answering() {
  # A TCP connect is not enough (a dying broker still accepts); ask for metadata when Python
  # with confluent-kafka is around, else fall back to the port check.
  local py="$root/.venv/bin/python"
  if [ -x "$py" ] && "$py" -c "import confluent_kafka" 2>/dev/null; then
    "$py" - "$host:$port" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
try:
    AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=2)
except Exception:
    sys.exit(1)
PY
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  echo "kafka: fetching broker jars from Maven Central into $libs"
  mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

java_run() {
  java -Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$here/log4j2.yaml" \
    -cp "$libs/*" "$@"
}

up() {
  if answering; then echo "kafka: reusing broker on $host:$port"; return 0; fi
  fetch
  mkdir -p "$data"
  local props="$state/server.properties"
  sed -e "s#^listeners=.*#listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$((port + 1))#" \
      -e "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://$host:$port#" \
      -e "s#^controller.quorum.bootstrap.servers=.*#controller.quorum.bootstrap.servers=$host:$((port + 1))#" \
      "$here/server.properties" > "$props"
  echo "log.dirs=$data" >> "$props"
  if [ ! -f "$data/meta.properties" ]; then
    echo "kafka: formatting storage in $data"
    java_run kafka.tools.StorageTool format --standalone --ignore-formatted \
      --cluster-id "$(java_run kafka.tools.StorageTool random-uuid)" --config "$props" >/dev/null
  fi
  echo "kafka: starting broker on $host:$port (log: $logfile)"
  nohup bash -c "exec java -Xms128m -Xmx$heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile='$here/log4j2.yaml' -cp '$libs/*' kafka.Kafka '$props'" \
    >"$logfile" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if answering; then echo "kafka: ready"; return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "kafka: broker exited during start; last log lines:" >&2
      tail -n 40 "$logfile" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "kafka: broker did not answer within 60 s; see $logfile" >&2
  return 1
}

down() {
  if [ ! -f "$pidfile" ]; then echo "kafka: not started by this script"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "kafka: stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) if answering; then echo "kafka: answering on $host:$port"; else echo "kafka: down"; exit 1; fi ;;
  *) echo "usage: $0 fetch|up|down|status" >&2; exit 2 ;;
esac
