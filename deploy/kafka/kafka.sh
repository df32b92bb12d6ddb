#!/usr/bin/env bash
# Local single-node Kafka (KRaft) assembled from Maven Central jars.
#   kafka.sh fetch | up | down | status
#   kafka.sh up DIR PORT [CONTROLLER_PORT]   a broker of its own: data, pid and log in DIR
#   kafka.sh down DIR                        stop the broker started by `up DIR` (keeps its data)
# Idempotent: `up` reuses a broker already answering on the bootstrap address, `down` only stops
# the broker this script started (by its pid file). With a DIR, `up` never reuses: a second
# broker (the fault suite stops and restarts one) must not be mistaken for the shared one, so a
# busy port is an error. Restart it with the same DIR and ports: KRaft keeps the controller's
# address in its metadata log.
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
controller_port="$((port + 1))"
heap="${KAFKA_HEAP:-512m}"
props_dir="$state"
own=""

alive() { # PID -- a zombie (exited, not yet reaped by a sandbox's PID 1) counts as dead
  local st; st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

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

own_dir() { # DIR PORT [CONTROLLER_PORT]: point the state variables at DIR
  mkdir -p "$1"
  local dir; dir="$(cd "$1" && pwd)"
  data="$dir/data"
  pidfile="$dir/kafka.pid"
  logfile="$dir/kafka.log"
  props_dir="$dir"
  if [ $# -ge 2 ]; then
    port="$2"
    controller_port="${3:-$((port + 1))}"
    local p
    for p in "$port" "$controller_port"; do
      [[ "$p" =~ ^[0-9]{1,5}$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] ||
        { echo "kafka: port must be 1-65535, got '$p'" >&2; exit 2; }
    done
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
  if answering; then
    if [ -n "$own" ]; then echo "kafka: $host:$port is already in use" >&2; return 1; fi
    echo "kafka: reusing broker on $host:$port"; return 0
  fi
  if [ -n "$own" ] && [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
    echo "kafka: a broker from $props_dir is still running (pid $(cat "$pidfile"))" >&2; return 1
  fi
  fetch
  mkdir -p "$data"
  local props="$props_dir/server.properties"
  sed -e "s#^listeners=.*#listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port#" \
      -e "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://$host:$port#" \
      -e "s#^controller.quorum.bootstrap.servers=.*#controller.quorum.bootstrap.servers=$host:$controller_port#" \
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
    if ! alive "$(cat "$pidfile")"; then
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
  if alive "$pid"; then
    kill "$pid"
    for _ in $(seq 1 60); do alive "$pid" || break; sleep 0.5; done
    if alive "$pid"; then kill -9 "$pid"; fi
  fi
  rm -f "$pidfile"
  echo "kafka: stopped"
}

cmd="${1:-}"; shift || true
if [ $# -gt 0 ]; then
  case "$cmd" in
    up) [ $# -ge 2 ] || { echo "usage: $0 up DIR PORT [CONTROLLER_PORT]" >&2; exit 2; } ;;
    down) [ $# -eq 1 ] || { echo "usage: $0 down DIR" >&2; exit 2; } ;;
    *) echo "usage: $0 fetch|up|down|status, or up DIR PORT [CONTROLLER_PORT] | down DIR" >&2
       exit 2 ;;
  esac
  own_dir "$@"
  own=1
fi

case "$cmd" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) if answering; then echo "kafka: answering on $host:$port"; else echo "kafka: down"; exit 1; fi ;;
  *) echo "usage: $0 fetch|up|down|status" >&2; exit 2 ;;
esac
