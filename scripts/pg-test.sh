#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, from Debian's packages.
#
#   scripts/pg-test.sh run CMD [ARG…]   start a server, run CMD with DATABASE_URL set,
#                                        stop the server, exit with CMD's status
#   scripts/pg-test.sh start            start a server; print DATABASE_URL=… and PGTEST_DIR=…
#                                        (shell assignments, for `eval`)
#   scripts/pg-test.sh stop DIR         stop the server started in DIR and delete DIR
#   scripts/pg-test.sh replica-start DIR
#                                        start a streaming replica (hot standby) of the running
#                                        server in DIR, wait until it streams; print
#                                        REPLICA_URL=… and REPLICA_DIR=… (for `eval`)
#   scripts/pg-test.sh replica-stop DIR  stop the replica started in DIR and delete DIR
#
# The server listens on 127.0.0.1 on a free port, keeps its data in a fresh directory under
# /tmp, runs with fsync off (fast, and nothing in it is worth keeping), and has one login
# role `tallylog` (password `tallylog`, CREATEDB: pytest-django creates test_<name>) owning
# the database `tallylog`. PostgreSQL refuses to run as root, so under root the server runs
# as the `postgres` system user the Debian package creates.
#
# A replica is a `pg_basebackup -R` copy of the primary taken over loopback TCP by the
# replication role `replicator` (password `replicator`), started as a hot standby on a port
# of its own and streaming from the primary: the same databases and the same `tallylog`
# role, read-only. Stopping it leaves the primary running.
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

# The options every server runs with (a hot standby needs max_connections >= the primary's).
server_options() {
  echo "-c listen_addresses=127.0.0.1 -c port=$1 -c unix_socket_directories=$2 \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
-c max_connections=200 -c shared_buffers=128MB"
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
      -o "$(server_options "$port" "$dir")" >/dev/null; then
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

replica_start() {
  local primary="${1:?usage: pg-test.sh replica-start DIR}" bin pport dir port tries status
  case "$primary" in /tmp/tallylog-pg.*) ;; *)
    echo "pg-test: $primary is not a directory this script made" >&2
    exit 2
    ;;
  esac
  [ -f "$primary/port" ] && [ -f "$primary/data/postmaster.pid" ] || {
    echo "pg-test: no running server in $primary" >&2
    exit 2
  }
  bin="$(pg_bin)"
  pport="$(cat "$primary/port")"
  as_owner "$bin/psql" -q -h "$primary" -p "$pport" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SELECT 'CREATE ROLE replicator LOGIN REPLICATION PASSWORD ''replicator'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'replicator') \gexec
SQL
  dir="$(mktemp -d /tmp/tallylog-pg.XXXXXX)"
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  # -R writes standby.signal and primary_conninfo (loopback TCP, the replicator role).
  as_owner env PGPASSWORD=replicator "$bin/pg_basebackup" -h 127.0.0.1 -p "$pport" -U replicator \
    -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 || {
    cat "$dir/basebackup.log" >&2
    rm -rf "$dir"
    exit 1
  }
  tries=0
  while :; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "$(server_options "$port" "$dir")" >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
      cat "$dir/server.log" >&2
      exit 1
    fi
  done
  echo "$port" >"$dir/port"
  echo "$primary" >"$dir/primary"
  # Wait (at most a minute) until the WAL receiver streams from the primary.
  tries=0
  until status="$(as_owner "$bin/psql" -qAt -h "$dir" -p "$port" -U postgres -d postgres \
    -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" && [ "$status" = streaming ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 600 ]; then
      echo "pg-test: the replica in $dir is not streaming" >&2
      cat "$dir/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  printf 'REPLICA_URL=%s\nREPLICA_DIR=%s\n' "postgres://tallylog:tallylog@127.0.0.1:$port/tallylog" "$dir"
}

replica_stop() {
  local dir="${1:?usage: pg-test.sh replica-stop DIR}"
  [ -f "$dir/primary" ] || {
    echo "pg-test: refusing to stop $dir (not a replica this script made)" >&2
    exit 2
  }
  stop "$dir"
}

case "${1:-}" in
  start)
    start
    ;;
  stop)
    stop "${2:-}"
    ;;
  replica-start)
    replica_start "${2:-}"
    ;;
  replica-stop)
    replica_stop "${2:-}"
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
    sed -n '2,24p' "$0" >&2
    exit 2
    ;;
esac
