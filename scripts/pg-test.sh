#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, from Debian's packages.
#
#   scripts/pg-test.sh run CMD [ARG…]   start a server, run CMD with DATABASE_URL set,
#                                        stop the server, exit with CMD's status
#   scripts/pg-test.sh start            start a server; print DATABASE_URL=… and PGTEST_DIR=…
#                                        (shell assignments, for `eval`)
#   scripts/pg-test.sh stop DIR         stop the server started in DIR and delete DIR
#
# The server listens on 127.0.0.1 on a free port, keeps its data in a fresh directory under
# /tmp, runs with fsync off (fast, and nothing in it is worth keeping), and has one login
# role `tallylog` (password `tallylog`, CREATEDB: pytest-django creates test_<name>) owning
# the database `tallylog`. PostgreSQL refuses to run as root, so under root the server runs
# as the `postgres` system user the Debian package creates.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

pg_bin() {
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$initdb" ]; then
    bash "$here/test-deps.sh"
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
  fi
  dirname "$initdb"
}

# Run a command as the server's owner (the `postgres` user when we are root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local bin dir port url
  bin="$(pg_bin)"
  dir="$(mktemp -d /tmp/tallylog-pg.XXXXXX)"
  chmod 755 "$dir"
  mkdir "$dir/data"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  # A free port can be taken between the probe and the bind: try a few.
  local tries=0
  while :; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c max_connections=200 -c shared_buffers=128MB" >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
      cat "$dir/server.log" >&2
      exit 1
    fi
  done
  as_owner "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE ROLE tallylog LOGIN CREATEDB PASSWORD 'tallylog';
CREATE DATABASE tallylog OWNER tallylog;
SQL
  echo "$port" >"$dir/port"
  url="postgres://tallylog:tallylog@127.0.0.1:$port/tallylog"
  printf 'DATABASE_URL=%s\nPGTEST_DIR=%s\n' "$url" "$dir"
}

stop() {
  local dir="${1:?usage: pg-test.sh stop DIR}"
  case "$dir" in /tmp/tallylog-pg.*) ;; *)
    echo "pg-test: refusing to stop $dir (not a directory this script made)" >&2
    exit 2
    ;;
  esac
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start)
    start
    ;;
  stop)
    stop "${2:-}"
    ;;
  run)
    shift
    [ $# -gt 0 ] || { echo "usage: pg-test.sh run CMD [ARG…]" >&2; exit 2; }
    eval "$(start)"
    trap 'stop "$PGTEST_DIR"' EXIT
    trap 'exit 130' INT TERM
    echo "pg-test: PostgreSQL at $DATABASE_URL" >&2
    status=0
    DATABASE_URL="$DATABASE_URL" PGTEST_DIR="$PGTEST_DIR" "$@" || status=$?
    exit "$status"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
