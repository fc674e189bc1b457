#!/usr/bin/env bash
# Local base images for the docker tests, made on this machine because no image registry is
# reachable from it (Debian's package mirror and the npm registry are):
#
#   bookworm   debootstrap --variant=minbase bookworm, imported with `docker import`
#   node       bookworm + the host's node binary and npm (Node needs only bookworm's libc and
#              libstdc++), standing in for node:<major>-bookworm-slim (deploy/Dockerfile's NODE_IMAGE)
#   postgres   bookworm + Debian's postgresql-15, with the official image's POSTGRES_* interface
#   redis      bookworm + Debian's redis-server
#
# Each is tagged eiaas-test/<name>:<recipe hash> (the hash of this script, the recipes in
# scripts/test-images/ and, for node, the host's node version), so an image is built once per
# machine and recipe and shared by every test run on it. One builder at a time (a lock). Prints
# the tags as NAME=TAG lines on stdout; progress goes to stderr.
#
#   scripts/docker-test-images.sh           build what is missing, print the tags
#   scripts/docker-test-images.sh --remove  remove every eiaas-test/* image
#
# Needs a running engine (scripts/ensure-docker.sh) and debootstrap (root).
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
RECIPES="$(dirname "$SELF")/test-images"
MIRROR="${EIAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export DOCKER_BUILDKIT=0

if [ "${1:-}" = "--remove" ]; then
  ids=$(docker images --filter 'reference=eiaas-test/*' -q | sort -u)
  [ -z "$ids" ] || docker rmi -f $ids >/dev/null
  exit 0
fi

exec 9>/var/lock/eiaas-docker-test-images.lock
flock 9

recipe_hash() { cat "$SELF" "$@" | sha256sum | cut -c1-12; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
log() { echo "docker-test-images: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bookworm="eiaas-test/bookworm:$(recipe_hash)"
if ! have "$bookworm"; then
  log "debootstrap bookworm (minbase) → $bookworm"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | docker import --change 'CMD ["bash"]' - "$bookworm" >/dev/null
  rm -rf "$work/rootfs"
fi

build() { # build TAG DOCKERFILE CONTEXT
  log "docker build → $1"
  docker build -q --build-arg "BASE=$bookworm" -f "$2" -t "$1" "$3" >/dev/null
}

node_bin=$(readlink -f "$(command -v node)")
node_version=$(node --version)
node_major=${node_version#v}
node_major=${node_major%%.*}
node="eiaas-test/node:${node_major}-$(echo "$node_version" | recipe_hash "$RECIPES/node.Dockerfile" -)"
if ! have "$node"; then
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  mkdir -p "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -r "$npm_dir" "$work/node/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$work/node/"
  build "$node" "$RECIPES/node.Dockerfile" "$work/node"
fi

postgres="eiaas-test/postgres:$(recipe_hash "$RECIPES/postgres.Dockerfile" "$RECIPES/postgres-entrypoint.sh")"
have "$postgres" || build "$postgres" "$RECIPES/postgres.Dockerfile" "$RECIPES"

redis="eiaas-test/redis:$(recipe_hash "$RECIPES/redis.Dockerfile")"
have "$redis" || build "$redis" "$RECIPES/redis.Dockerfile" "$RECIPES"

echo "BOOKWORM_IMAGE=$bookworm"
echo "NODE_IMAGE=$node"
echo "POSTGRES_IMAGE=$postgres"
echo "REDIS_IMAGE=$redis"
