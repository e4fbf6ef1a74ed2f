#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for tests and development (DESIGN.md §7, README "State store").
#
#   deploy/postgres/postgres.sh check            exit 0 when the server binaries are here; else install
#                                                Debian's `postgresql` package (as root) or say what to install
#   deploy/postgres/postgres.sh start DIR [PORT] initdb a cluster in DIR (once), start it on 127.0.0.1:PORT
#                                                with its unix socket in DIR/socket, print its DSN
#   deploy/postgres/postgres.sh stop DIR         stop the server started in DIR (fast shutdown)
#
# PORT defaults to 0 (a free port). The binaries are those of Debian's `postgresql` package
# (/usr/lib/postgresql/<major>/bin), or PG_BIN. PostgreSQL refuses to run as root: as root the cluster
# belongs to PG_USER (default `postgres`, the package's own user, else `nobody`) and DIR is handed to it.
# PG_FSYNC=off skips fsync (test runs: nothing there must survive a power cut).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../../.venv/bin/python}"
[ -x "$python" ] || python=python3

bin_dir() {
  local found="${PG_BIN:-}"
  [ -n "$found" ] || found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

check() {
  if bin_dir >/dev/null; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "PostgreSQL server binaries missing: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
    bin_dir >/dev/null && return 0
  fi
  cat >&2 <<MSG
PostgreSQL server binaries not found (looked for /usr/lib/postgresql/*/bin/initdb; or set PG_BIN).
The tests of the postgres state store start their own server. Install it, as root:
    apt-get install postgresql        # Debian/Ubuntu: PostgreSQL 15 on Debian 12
or point the tests at a server you run: export SCANBRIDGE_POSTGRES_DSN=postgresql://user:pass@host:port/db
MSG
  return 1
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Run a server binary as the cluster's owner (root may not).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$(owner)" -- "$@"; else "$@"; fi
}

owner() {
  if [ -n "${PG_USER:-}" ]; then echo "$PG_USER"
  elif id -u postgres >/dev/null 2>&1; then echo postgres
  else echo nobody; fi
}

start() {
  local dir="${1:?DIR}" port="${2:-0}" bin
  check
  bin="$(bin_dir)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/dsn" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    cat "$dir/dsn"; return 0
  fi
  [ "$port" = 0 ] && port="$(free_port)"
  mkdir -p "$dir/socket"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "$python" -c 'import secrets; print(secrets.token_hex(16))' > "$dir/password"
    chmod 600 "$dir/password"
    [ "$(id -u)" = 0 ] && chown -R "$(owner)" "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U scanbridge --pwfile="$dir/password" -E UTF8 --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 > "$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  [ "$(id -u)" = 0 ] && chown -R "$(owner)" "$dir"
  chmod 700 "$dir"
  local opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/socket"
  [ "${PG_FSYNC:-on}" = off ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w -t "${PG_START_TIMEOUT:-60}" \
      start > /dev/null; then
    echo "postgres did not start; last lines of $dir/postgres.log:" >&2
    tail -n 30 "$dir/postgres.log" >&2 || true
    return 1
  fi
  # One database for scanbridge, over the socket (trusted: only the owner and root can reach DIR).
  as_owner "$bin/psql" -h "$dir/socket" -p "$port" -U scanbridge -d postgres -v ON_ERROR_STOP=1 -qtA \
      -c "SELECT 1 FROM pg_database WHERE datname = 'scanbridge'" | grep -q 1 \
    || as_owner "$bin/createdb" -h "$dir/socket" -p "$port" -U scanbridge scanbridge
  echo "postgresql://scanbridge:$(cat "$dir/password")@127.0.0.1:$port/scanbridge" > "$dir/dsn"
  chmod 600 "$dir/dsn"
  cat "$dir/dsn"
}

stop() {
  local dir="${1:?DIR}" bin
  [ -f "$dir/data/PG_VERSION" ] || return 0
  bin="$(bin_dir)" || return 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null 2>&1 || true
}

case "${1:-}" in
  check) check ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
