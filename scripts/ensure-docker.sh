#!/usr/bin/env bash
# A running Docker engine for the tests that build and run real containers (the image, the compose
# stack, the docker task runtime). Like scripts/ensure-redis.sh: when the engine is missing and we
# are root on Debian (as on CI), install Debian's docker.io, debootstrap (for the local base
# images, see scripts/docker-test-images.sh) and docker-compose, then start dockerd; otherwise say
# why in one line. Exit 0 when `docker info` answers, 3 when Docker cannot be had here (the docker
# tests then skip with that reason), 1 when an install or start that should work failed.
#
#   EIAAS_DOCKER_TESTS=0     do not look for, install or start Docker (exit 3)
#   EIAAS_DOCKERD_LOG=FILE   where a dockerd started here logs (default /var/log/eiaas-dockerd.log)
set -euo pipefail

if [ "${EIAAS_DOCKER_TESTS:-}" = "0" ]; then
  echo "docker tests disabled by EIAAS_DOCKER_TESTS=0" >&2
  exit 3
fi

# Debian's CLI speaks the API of Debian's engine; a newer CLI first on PATH works too (it
# negotiates the version down), but wants buildx for BuildKit: the tests build with the classic builder.
engine_up() { timeout 20 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  if command -v docker >/dev/null 2>&1; then
    echo "docker tests skipped: the Docker engine does not answer ('docker info' fails) and only root can start one here" >&2
  else
    echo "docker tests skipped: no docker CLI and not root on Debian (install docker.io, debootstrap and docker-compose, then start dockerd)" >&2
  fi
  exit 3
fi

# One installer/starter at a time (parallel test files, other test runs on this machine).
exec 9>/var/lock/eiaas-ensure-docker.lock
flock 9
if engine_up; then
  exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get (for the docker tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1) \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || { echo "error: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi

log="${EIAAS_DOCKERD_LOG:-/var/log/eiaas-dockerd.log}"
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "starting dockerd (log: $log)" >&2
  # Its own session: it outlives the test run that started it, as a system service would.
  setsid nohup dockerd --storage-driver=overlay2 >>"$log" 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  if engine_up; then
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not answer within 60 s; the end of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
