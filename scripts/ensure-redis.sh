#!/usr/bin/env bash
# First step of `npm test`: the suite runs against a real redis-server. Install it when missing
# and we can (root on Debian, as on CI); otherwise say how in one line.
set -euo pipefail
if [ -n "${REDIS_URL:-}" ] || command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y -qq redis-server >/dev/null 2>&1) || { apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null; }
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "error: the tests need redis-server: install it (e.g. 'sudo apt-get install -y redis-server') or set REDIS_URL" >&2
exit 1
