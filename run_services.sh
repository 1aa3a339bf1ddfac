#!/usr/bin/env bash
# Starts the whole system: with a working Docker engine through docker compose, otherwise
# natively from the locked virtual environment.
#
#   ./run_services.sh [--native|--docker]   start (waits until every service is ready)
#   ./run_services.sh stop                  stop what was started (embedded servers included)
#   ./run_services.sh status                show what runs and whether it is ready
#   ./run_services.sh logs [service] [-f]   show a log (user, product, order, web, prometheus, alertmanager)
#
# Native mode uses DATABASE_URL / REDIS_URL when set (a server: the databases user_db,
# product_db and order_db are created on it), otherwise an embedded PostgreSQL and Redis
# with their data under .run/ (kept between runs). See README.md for every variable.
# NATIVE_MONITORING=0 starts no Prometheus/Alertmanager natively (test runs that need only the
# services, such as tests/faults); by default they start when their binaries are installed.
# Native mode is tools/native (supervisord); this script parses arguments and runs Docker mode.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

RUN_DIR="${RUN_DIR:-$ROOT_DIR/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
export RUN_DIR
MODE_FILE="$RUN_DIR/mode"

native() { "$ROOT_DIR/.venv/bin/python" -m tools.native "$@"; }

# The commands other than start need no synced environment, only an existing one.
native_if_installed() {
  if [[ -x "$ROOT_DIR/.venv/bin/python" ]]; then native "$@"; else warn "no .venv: nothing runs natively"; fi
}

docker_available() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# ---------------------------------------------------------------- docker mode
compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

ensure_dotenv() {
  [[ -f .env ]] && return 0
  log "creating .env from .env.example with freshly generated secrets"
  local line name
  while IFS= read -r line; do
    name="${line%%=*}"
    if [[ "$line" == *=change-me* ]]; then echo "$name=$(random_secret)"; else echo "$line"; fi
  done <.env.example >.env
  chmod 600 .env
}

start_docker() {
  ensure_dotenv
  echo docker >"$MODE_FILE"
  log "docker compose up -d --build --wait"
  compose up -d --build --wait
  echo
  echo "The shop is up (docker mode):"
  echo "  user http://localhost:8001  product http://localhost:8002  order http://localhost:8003 (each has /docs)"
  echo "  storefront http://localhost:${WEB_PORT:-5173}"
  echo "  Prometheus http://localhost:9090  Alertmanager http://localhost:9093"
  echo "  Grafana http://localhost:${GRAFANA_PORT:-3030} (admin / GRAFANA_ADMIN_PASSWORD from .env)"
}

# ---------------------------------------------------------------- commands
mode="auto"
command="start"
logs_args=()
for arg in "$@"; do
  case "$arg" in
    --native) mode=native ;;
    --docker) mode=docker ;;
    start|stop|status|logs) command="$arg" ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) [[ "$command" == logs ]] || die "unknown argument '$arg' (see --help)"; logs_args+=("$arg") ;;
  esac
done
current_mode="$(cat "$MODE_FILE" 2>/dev/null || true)"

case "$command" in
  start)
    if [[ "$mode" == auto ]]; then
      if [[ -n "$current_mode" ]]; then mode="$current_mode"
      elif docker_available; then mode=docker; else mode=native; fi
    fi
    if [[ "$mode" == docker ]]; then
      docker_available || die "no working Docker engine; use ./run_services.sh --native"
      start_docker
    else
      ensure_env
      native start
    fi
    ;;
  stop)
    if [[ "$current_mode" == docker ]]; then compose down; rm -f "$MODE_FILE"; else native_if_installed stop; fi
    ;;
  status)
    if [[ "$current_mode" == docker ]]; then compose ps; else native_if_installed status; fi
    ;;
  logs)
    service="user"
    follow=()
    for arg in "${logs_args[@]}"; do
      if [[ "$arg" == -f ]]; then follow=(-f); else service="$arg"; fi
    done
    if [[ "$current_mode" == docker ]]; then
      compose logs "${follow[@]/-f/--follow}" "$service-service"
    else
      native_if_installed logs "$service" "${follow[@]}"
    fi
    ;;
esac
