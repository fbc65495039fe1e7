#!/usr/bin/env bash
# The whole suite twice, side by side: on the embedded SQLite database and on a throwaway
# PostgreSQL server on loopback (scripts/pg-test.sh starts it, sets DATABASE_URL, stops it).
#
#   scripts/test-both.sh [PYTEST_ARG…]
#
# Most of a pass's time is spent waiting on the servers, workers, browsers and databases its
# tests start, so the two passes share a 2-core machine well: together they take little more
# than the longer one alone (bench/RESULTS.md, "The test suite's time"). Each pass has its own
# pytest temporary directory (every test home, and so every shared-limit cache under
# /dev/shm, is apart), and prints its whole output when it ends; the exit status is non-zero
# when either pass failed. TALLYLOG_TEST_SERIAL=1 runs them one after the other.
#
# The PostgreSQL pass runs the tests that touch the database (tests/conftest.py,
# ``touches_database``: pytest-django's fixtures or mark, a subprocess, or the mark
# ``both_databases`` for tests that read the database settings); the others (the log
# library, leaf encodings, catalogues, pure validation) give the same result on either
# database and run once, in the SQLite pass.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${BIN:-$here/../.venv/bin}"
work="$(mktemp -d /tmp/tallylog-test.XXXXXX)"
pids=()

stop() {
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
}
trap 'stop; exit 130' INT TERM

sqlite_pass() {
  env -u DATABASE_URL "$bin/pytest" -q -p no:cacheprovider --basetemp="$work/sqlite" "$@"
}

pg_pass() {
  TALLYLOG_TEST_PASS=postgresql \
    bash "$here/pg-test.sh" run "$bin/pytest" -q -p no:cacheprovider --basetemp="$work/pg" "$@"
}

report() {  # NAME STATUS LOG
  echo
  echo "=================== $1 pass: exit $2 ==================="
  cat "$3"
}

started=$SECONDS
if [ "${TALLYLOG_TEST_SERIAL:-}" = 1 ]; then
  sqlite_pass "$@" >"$work/sqlite.log" 2>&1
  sqlite_status=$?
  report SQLite "$sqlite_status" "$work/sqlite.log"
  pg_pass "$@" >"$work/pg.log" 2>&1
  pg_status=$?
  report PostgreSQL "$pg_status" "$work/pg.log"
else
  # Each pass in a process group of its own (set -m), so that an interrupt stops every
  # server it started.
  set -m
  sqlite_pass "$@" >"$work/sqlite.log" 2>&1 &
  pids+=("$!")
  pg_pass "$@" >"$work/pg.log" 2>&1 &
  pids+=("$!")
  set +m
  echo "test-both: the SQLite and PostgreSQL passes run side by side (output when each ends)"
  wait "${pids[0]}"
  sqlite_status=$?
  report SQLite "$sqlite_status" "$work/sqlite.log"
  wait "${pids[1]}"
  pg_status=$?
  report PostgreSQL "$pg_status" "$work/pg.log"
fi
echo
echo "test-both: SQLite pass exit $sqlite_status, PostgreSQL pass exit $pg_status, $((SECONDS - started)) s in all"
if [ "$sqlite_status" = 0 ] && [ "$pg_status" = 0 ]; then
  rm -rf "$work"
  exit 0
fi
echo "test-both: the failed passes' temporary files are kept in $work"
exit 1
