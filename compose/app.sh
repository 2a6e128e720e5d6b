#!/usr/bin/env bash
# Runs orderflow itself (processors + API, `orderflow run`) in the background for `make demo`,
# next to whichever stack `make up` started. Same run directory and pid bookkeeping as the
# native stack: `make down` stops it too.
#
#   app.sh start    start `orderflow run` unless it runs; wait until /readyz answers 200
#   app.sh stop     stop it (by pid)
#   app.sh status   print its pid and readiness
#   app.sh token    print the demo's API token (an operations key made at the first start)
#   app.sh setup    `orderflow setup` with the least-privilege PostgreSQL roles of the stack
#                   (names and passwords in the stack's roles file, see roles_file)
#
# start runs orderflow as the application role (which owns only its schema) when the roles file
# exists and ORDERFLOW_PG_DSN is not set; the connector logs in as the replication role.
#
# Unless ORDERFLOW_API_KEYS_FILE, ORDERFLOW_API_KEYS or a JWT setting is given, start makes a
# local operations key ($RUN_DIR/api-keys, mode 600) and runs the API with it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
RUN_DIR="${ORDERFLOW_RUN_DIR:-$REPO/.run}"
BIN="${ORDERFLOW_BIN:-$REPO/bin/orderflow}"
ADDR="${ORDERFLOW_API_ADDR:-127.0.0.1:8080}"
URL="http://127.0.0.1:${ADDR##*:}"
PIDFILE="$RUN_DIR/pids/orderflow.pid"

log() { printf '%s app: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pid() {
  [ -f "$PIDFILE" ] || return 0
  local p
  p="$(cat "$PIDFILE")"
  if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$RUN_DIR/state"; then echo "$p"; else rm -f "$PIDFILE"; fi
}

# roles_file: where `make up` keeps the roles' names and passwords (compose/.env for docker,
# $RUN_DIR/pg-roles.env for the native stack)
roles_file() {
  if [ "${ORDERFLOW_STACK_MODE:-native}" = docker ]; then echo "$REPO/compose/.env"; else echo "$RUN_DIR/pg-roles.env"; fi
}

load_roles() { # exports ORDERFLOW_PG_{APP,CDC}_{ROLE,PASSWORD}; false when there is no roles file
  local f; f="$(roles_file)"
  grep -q '^ORDERFLOW_PG_CDC_PASSWORD=' "$f" 2>/dev/null || return 1
  set -a; . "$f"; set +a
  export ORDERFLOW_PG_APP_ROLE="${ORDERFLOW_PG_APP_ROLE:-orderflow_app}" ORDERFLOW_PG_CDC_ROLE="${ORDERFLOW_PG_CDC_ROLE:-orderflow_cdc}"
}

ready() { curl -fs --max-time 2 -o /dev/null "$URL/readyz"; }

demo_keys() {
  if [ -n "${ORDERFLOW_API_KEYS_FILE:-}${ORDERFLOW_API_KEYS:-}${ORDERFLOW_JWT_HS256_SECRET:-}${ORDERFLOW_JWKS_URL:-}" ]; then return; fi
  if [ ! -s "$RUN_DIR/api-keys" ]; then
    (umask 077; "$BIN" auth new-key --name demo --rate 5000 >"$RUN_DIR/api-keys")
    log "made a local operations API key in $RUN_DIR/api-keys"
  fi
  export ORDERFLOW_API_KEYS_FILE="$RUN_DIR/api-keys"
}

case "${1:-}" in
  token)
    [ -s "$RUN_DIR/api-keys" ] || { echo "no demo key yet: run '$0 start' (make demo)" >&2; exit 1; }
    awk '$1 == "demo" {print $2; exit}' "$RUN_DIR/api-keys"
    ;;
  setup)
    if load_roles; then
      "$BIN" setup --app-role "$ORDERFLOW_PG_APP_ROLE" --cdc-role "$ORDERFLOW_PG_CDC_ROLE"
    else
      log "no roles file ($(roles_file)): setting up as the DSN's user"
      "$BIN" setup
    fi
    ;;
  start)
    mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs" "$RUN_DIR/state"
    demo_keys
    if [ -z "${ORDERFLOW_PG_DSN:-}" ] && load_roles; then # the application role, not the superuser
      export ORDERFLOW_PG_DSN="postgres://$ORDERFLOW_PG_APP_ROLE:$ORDERFLOW_PG_APP_PASSWORD@localhost:5432/orderflow"
    fi
    if [ -z "$(pid)" ]; then
      log "starting orderflow run (API on $ADDR, log $RUN_DIR/logs/orderflow.log)"
      ORDERFLOW_API_ADDR="$ADDR" setsid nohup "$BIN" run --state-dir "$RUN_DIR/state" >>"$RUN_DIR/logs/orderflow.log" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
    deadline=$((SECONDS + ${ORDERFLOW_START_TIMEOUT:-180}))
    until ready; do
      [ -n "$(pid)" ] || { log "orderflow exited; see $RUN_DIR/logs/orderflow.log"; tail -5 "$RUN_DIR/logs/orderflow.log" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { log "orderflow not ready in time; see $RUN_DIR/logs/orderflow.log"; exit 1; }
      sleep 0.3
    done
    log "orderflow is ready at $URL (pid $(pid))"
    ;;
  stop)
    p="$(pid)"
    if [ -n "$p" ]; then
      log "stopping orderflow (pid $p)"
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 100); do [ -r "/proc/$p/stat" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] || break; sleep 0.2; done
      kill -KILL "$p" 2>/dev/null || true
      rm -f "$PIDFILE"
    fi
    ;;
  status)
    p="$(pid)"
    if [ -z "$p" ]; then echo "orderflow  -  stopped"; exit 1; fi
    if ready; then echo "orderflow  $p  ready ($URL)"; else echo "orderflow  $p  not ready"; fi
    ;;
  *) echo "usage: $0 start|stop|status|token|setup" >&2; exit 2 ;;
esac
