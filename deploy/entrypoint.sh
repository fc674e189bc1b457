#!/bin/sh
# Entrypoint of the eiaas image: one image, one command per process.
#
#   api-server [ARGS]   the HTTPS API (EIAAS_PORT, default 8443)
#   scheduler [ARGS]    scheduling loop and controllers (leader-elected; EIAAS_METRICS_PORT)
#   agent [ARGS]        node agent: --node NAME --runtime simulated|process|docker|kubernetes|onnx
#                       --slots N --server URL (EIAAS_BOOTSTRAP_TOKEN, EIAAS_CA_FILE)
#   eictl [ARGS]        the CLI
#   serve [ARGS]        the serving program: one ONNX segment behind POST /v1/infer
#                       (--model FILE, EIAAS_PORT default 8080; `serve --help`); also on PATH
#                       as eiaas-serve
#   migrate             apply prisma/migrations to DATABASE_URL, retrying while the database
#                       is not reachable yet (EIAAS_MIGRATE_ATTEMPTS, default 30, 2 s apart)
#   probe URL           exit 0 when GET URL answers 2xx (http or https; the certificate is not
#                       verified): for docker-compose healthchecks
#   help                this text
#   anything else       run as a command (e.g. `sh`)
set -eu

APP_DIR="${EIAAS_APP_DIR:-/app}"
cd "$APP_DIR"

run_ts() {
  script="$1"
  shift
  exec node --import tsx "$script" "$@"
}

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# Called as eiaas-serve (the link on PATH): the serving program.
case "$(basename "$0")" in
  eiaas-serve) set -- serve "$@" ;;
esac

cmd="${1:-help}"
[ "$#" -gt 0 ] && shift

case "$cmd" in
  api-server) run_ts apps/api-server/src/main.ts "$@" ;;
  scheduler) run_ts apps/scheduler/src/main.ts "$@" ;;
  agent) run_ts apps/agent/src/main.ts "$@" ;;
  eictl) run_ts apps/eictl/src/main.ts "$@" ;;
  serve) run_ts libs/serving/src/main.ts "$@" ;;
  migrate)
    attempts="${EIAAS_MIGRATE_ATTEMPTS:-30}"
    n=1
    while :; do
      if node --import tsx libs/db/src/migrate-cli.ts "$@"; then
        exit 0
      fi
      if [ "$n" -ge "$attempts" ]; then
        echo "migrate: giving up after $n attempts" >&2
        exit 1
      fi
      echo "migrate: attempt $n/$attempts failed, retrying in 2 s" >&2
      n=$((n + 1))
      sleep 2
    done
    ;;
  probe)
    if [ "$#" -lt 1 ]; then
      echo "usage: probe URL" >&2
      exit 2
    fi
    exec node -e '
      const url = new URL(process.argv[1]);
      const mod = url.protocol === "https:" ? require("node:https") : require("node:http");
      const req = mod.get(url, { rejectUnauthorized: false, timeout: 4000 }, (res) => {
        res.resume();
        process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => { console.error(`probe: ${err.message}`); process.exit(1); });
    ' "$1"
    ;;
  help | -h | --help) usage ;;
  *) exec "$cmd" "$@" ;;
esac
