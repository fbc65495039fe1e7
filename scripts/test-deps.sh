#!/usr/bin/env bash
# Installs the outside programs the test suite talks to, from Debian's packages, when they
# are missing: Go with golang.org/x/mod (the independent tlog implementation), headless
# Chromium (the browser test), PostgreSQL (the PostgreSQL path), nginx (the proxy test),
# Redis (the shared rate limits; run from memory only by the tests), Dovecot (the IMAP
# server the email intake reads; the tests run their own, never the system service) and gettext.
# With --bench, also the benchmarks' tools: wrk (load generator) and faketime (bench web
# builds its big homes one past day at a time).
# Idempotent and quiet when everything is present. Needs root (CI and the dev machines are).
set -euo pipefail

need=()
if [ "${1:-}" = "--bench" ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v faketime >/dev/null 2>&1 || need+=(faketime)
fi
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || need+=(golang-golang-x-mod-dev)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
