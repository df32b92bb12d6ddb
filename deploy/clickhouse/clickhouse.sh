#!/usr/bin/env bash
# Throwaway single-node ClickHouse server for tests and local use (Debian's 18.16 package).
#   clickhouse.sh install          install clickhouse-server via apt if it is missing
#   clickhouse.sh up DIR PORT      config + data + logs in DIR, native protocol on 127.0.0.1:PORT
#   clickhouse.sh down DIR         stop the server started by `up DIR` (by DIR/clickhouse.pid)
# Runs the binary directly (no systemd, no init script, no `clickhouse` user needed): 18.16 runs
# fine as root when it owns DIR. HTTP and interserver listeners are left out of the config.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
host=127.0.0.1

die() { echo "clickhouse: $*" >&2; exit 1; }

alive() { # PID -- a zombie (exited, not yet reaped by a sandbox's PID 1) counts as dead
  local st; st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

server_bin() {
  # Debian ships /usr/sbin/clickhouse-server, which is not on a non-root PATH.
  command -v clickhouse-server 2>/dev/null && return 0
  local p
  for p in /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}

install() {
  if server_bin >/dev/null; then return 0; fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "clickhouse-server is missing and we are not root (no sudo)"
    sudo=(sudo)
  fi
  echo "clickhouse: installing clickhouse-server via apt-get"
  # The package's postinst starts the system service (port 9000) via invoke-rc.d and fails the
  # install if that fails (no systemd in a sandbox). Deny service starts while installing.
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    added=1
  fi
  local rc=0
  { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server \
      >/dev/null; } || rc=$?
  if [ -n "$added" ]; then "${sudo[@]}" rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install clickhouse-server failed (exit $rc)"
  server_bin >/dev/null || die "clickhouse-server still not found after install"
}

answering() { # PORT
  # Ask for `SELECT 1` over the native protocol: clickhouse-driver, else clickhouse-client.
  local py="$root/.venv/bin/python"
  if [ -x "$py" ] && "$py" -c "import clickhouse_driver" 2>/dev/null; then
    "$py" - "$1" <<'PY' 2>/dev/null
import sys
from clickhouse_driver import Client
c = Client("127.0.0.1", port=int(sys.argv[1]), connect_timeout=1, send_receive_timeout=2)
sys.exit(0 if c.execute("SELECT 1") == [(1,)] else 1)
PY
  elif command -v clickhouse-client >/dev/null; then
    [ "$(clickhouse-client --host "$host" --port "$1" -q 'SELECT 1' 2>/dev/null)" = 1 ]
  else
    die "need clickhouse-driver in $root/.venv or clickhouse-client to check readiness"
  fi
}

up() { # DIR PORT
  [ $# -eq 2 ] || die "usage: $0 up DIR PORT"
  local dir="$1" port="$2" bin
  [[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
    die "PORT must be 1-65535, got '$port'"
  bin="$(server_bin)" || die "clickhouse-server not installed; run: $0 install"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pidfile="$dir/clickhouse.pid" log="$dir/log/clickhouse-server.log"
  if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
    die "a server from $dir is already running (pid $(cat "$pidfile")); run: $0 down $dir"
  fi
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then die "port $host:$port is already in use"; fi
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  sed -e "s#@DIR@#$dir#g" -e "s#@TCP_PORT@#$port#g" "$here/config.xml.in" > "$dir/config.xml"
  cp "$here/users.xml" "$dir/users.xml"
  echo "clickhouse: starting $bin on $host:$port (dir: $dir)"
  (cd "$dir" && exec nohup "$bin" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1) &
  local pid=$!
  echo "$pid" > "$pidfile"
  for _ in $(seq 1 120); do
    if ! alive "$pid"; then
      echo "clickhouse: server exited during start; last log lines:" >&2
      tail -n 40 "$dir/log/stdout.log" "$log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      exit 1
    fi
    if answering "$port"; then echo "clickhouse: ready (pid $pid)"; return 0; fi
    sleep 0.5
  done
  echo "clickhouse: no answer to SELECT 1 within 60 s; last log lines:" >&2
  tail -n 40 "$log" >&2 2>/dev/null || true
  down "$dir" >/dev/null
  exit 1
}

down() { # DIR
  [ $# -eq 1 ] || die "usage: $0 down DIR"
  local dir="$1"
  local pidfile="$dir/clickhouse.pid"
  if [ ! -f "$pidfile" ]; then echo "clickhouse: nothing started in $dir"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  if alive "$pid"; then
    kill "$pid"
    for _ in $(seq 1 60); do alive "$pid" || break; sleep 0.5; done
    if alive "$pid"; then kill -9 "$pid"; fi
  fi
  rm -f "$pidfile"
  echo "clickhouse: stopped"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install ;;
  up) up "$@" ;;
  down) down "$@" ;;
  *) echo "usage: $0 install | up DIR PORT | down DIR" >&2; exit 2 ;;
esac
