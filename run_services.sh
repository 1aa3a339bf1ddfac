#!/usr/bin/env bash
# Starts the whole system: with a working Docker engine through docker compose, otherwise
# natively from the locked virtual environment.
#
#   ./run_services.sh [--native|--docker]   start (waits until every service is ready)
#   ./run_services.sh stop                  stop what was started (embedded servers included)
#   ./run_services.sh status                show what runs and whether it is ready
#   ./run_services.sh logs [service] [-f]   show a log (user, product, order, prometheus, alertmanager)
#
# Native mode uses DATABASE_URL / REDIS_URL when set (a server: the databases user_db,
# product_db and order_db are created on it), otherwise an embedded PostgreSQL and Redis
# with their data under .run/ (kept between runs). See README.md for every variable.
# NATIVE_MONITORING=0 starts no Prometheus/Alertmanager natively (test runs that need only the
# services, such as tests/faults); by default they start when their binaries are installed.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

RUN_DIR="${RUN_DIR:-$ROOT_DIR/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
HOST="${HOST:-127.0.0.1}"
SERVICES=()
for _s in user product order; do
  [[ -f "${_s}_service/src/${_s}_service/main.py" ]] && SERVICES+=("$_s")
done
declare -A PORTS=(
  [user]="${USER_SERVICE_PORT:-8001}"
  [product]="${PRODUCT_SERVICE_PORT:-8002}"
  [order]="${ORDER_SERVICE_PORT:-8003}"
)
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${ALERTMANAGER_PORT:-9093}"
MODE_FILE="$RUN_DIR/mode"

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
url_of() { echo "http://$HOST:${PORTS[$1]}"; }

ready_code() {  # HTTP status of /ready, or 000
  "${VENV_BIN:-$ROOT_DIR/.venv/bin}/python" -m tools.net ready "$1" 2>/dev/null || echo 000
}

wait_ready() {
  local name="$1" url="$2" deadline=$((SECONDS + ${READY_TIMEOUT:-60}))
  until [[ "$(ready_code "$url")" == 200 ]]; do
    if (( SECONDS > deadline )); then
      warn "$name is not ready after ${READY_TIMEOUT:-60}s; last lines of its log:"
      tail -n 30 "$RUN_DIR/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

docker_available() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# ---------------------------------------------------------------- native mode
load_secrets() {
  local file="$RUN_DIR/secrets.env"
  if [[ ! -f "$file" ]]; then
    log "generating local secrets in $file"
    umask 077
    {
      for name in USER_SERVICE_SECRET PRODUCT_SERVICE_SECRET ORDER_SERVICE_SECRET USER_SERVICE_JWT_SECRET; do
        echo "$name=$(random_secret)"
      done
    } >"$file"
  fi
  local name value
  while IFS='=' read -r name value; do
    [[ -z "$name" ]] && continue
    [[ -z "${!name:-}" ]] && export "$name=$value"
  done <"$file"
}

prepare_datastores() {
  if [[ -z "${DATABASE_URL:-}" || -z "${REDIS_URL:-}" ]]; then
    log "starting embedded PostgreSQL/Redis (data in $RUN_DIR/embedded)"
    start_embedded "$RUN_DIR/embedded" "${EMBEDDED_REDIS_PORT:-0}"
    touch "$RUN_DIR/embedded.started"
  fi
  local server="${DATABASE_URL:-$EMBEDDED_DATABASE_URL}" redis="${REDIS_URL:-$EMBEDDED_REDIS_URL}"
  local urls
  mapfile -t urls < <("$VENV_BIN/python" scripts/embedded.py databases "$server" \
    "${DB_NAME_PREFIX:-}user_db" "${DB_NAME_PREFIX:-}product_db" "${DB_NAME_PREFIX:-}order_db") \
    || die "could not create the databases on $server"
  export USER_SERVICE_DATABASE_URL="${USER_SERVICE_DATABASE_URL:-${urls[0]}}"
  export PRODUCT_SERVICE_DATABASE_URL="${PRODUCT_SERVICE_DATABASE_URL:-${urls[1]}}"
  export ORDER_SERVICE_DATABASE_URL="${ORDER_SERVICE_DATABASE_URL:-${urls[2]}}"
  local base="${redis%/*}"
  export USER_SERVICE_REDIS_URL="${USER_SERVICE_REDIS_URL:-$base/0}"
  export PRODUCT_SERVICE_REDIS_URL="${PRODUCT_SERVICE_REDIS_URL:-$base/1}"
  export ORDER_SERVICE_REDIS_URL="${ORDER_SERVICE_REDIS_URL:-$base/2}"
}

port_in_use() {
  "$VENV_BIN/python" -m tools.net port-in-use "$HOST" "$1"
}

check_ports_free() {
  local s
  for s in "${SERVICES[@]}"; do
    if port_in_use "${PORTS[$s]}"; then
      die "port ${PORTS[$s]} ($s) is already in use by another program; stop it or set ${s^^}_SERVICE_PORT"
    fi
  done
}

start_service() {
  local name="$1" port="${PORTS[$1]}" metrics_dir="$RUN_DIR/metrics/$1"
  local upper="${name^^}"
  local db_var="${upper}_SERVICE_DATABASE_URL"
  log "migrating and starting the $name service on :$port"
  "$VENV_BIN/alembic" -c "${name}_service/alembic.ini" upgrade head >>"$RUN_DIR/logs/$name.log" 2>&1 \
    || { tail -n 20 "$RUN_DIR/logs/$name.log" >&2; die "migrations of $name failed (${!db_var%%\?*})"; }
  rm -rf "$metrics_dir" && mkdir -p "$metrics_dir"
  PROMETHEUS_MULTIPROC_DIR="$metrics_dir" nohup "$VENV_BIN/python" -m shop_common.serve \
    "${name}_service.main:create_app" --host "$HOST" --port "$port" \
    --workers "${WEB_CONCURRENCY:-2}" \
    >>"$RUN_DIR/logs/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/pids/$name.pid"
}

start_prometheus() {
  if ! command -v prometheus >/dev/null 2>&1; then
    warn "prometheus is not installed: skipping it (Debian: apt-get install prometheus)"
    return 0
  fi
  local config="$RUN_DIR/prometheus.yml"
  # The native config scrapes localhost:8001-8003; follow the ports actually used.
  sed -e "s/localhost:8001/$HOST:${PORTS[user]}/; s/localhost:8002/$HOST:${PORTS[product]}/" \
      -e "s/localhost:8003/$HOST:${PORTS[order]}/" \
      -e "s#alerts.yml#$ROOT_DIR/monitoring/prometheus/alerts.yml#" \
      -e "s/127.0.0.1:9093/$HOST:$ALERTMANAGER_PORT/" \
      monitoring/prometheus/prometheus.native.yml >"$config"
  log "starting Prometheus on :$PROMETHEUS_PORT"
  nohup prometheus --config.file="$config" --web.listen-address="$HOST:$PROMETHEUS_PORT" \
    --storage.tsdb.path="$RUN_DIR/prometheus" >>"$RUN_DIR/logs/prometheus.log" 2>&1 &
  echo $! >"$RUN_DIR/pids/prometheus.pid"
}

alertmanager_binary() {
  command -v alertmanager 2>/dev/null || command -v prometheus-alertmanager 2>/dev/null
}

start_alertmanager() {
  local binary
  binary="$(alertmanager_binary)" || return 0  # optional natively, like Prometheus
  log "starting Alertmanager on :$ALERTMANAGER_PORT"
  nohup "$binary" --config.file="$ROOT_DIR/monitoring/alertmanager/alertmanager.yml" \
    --web.listen-address="$HOST:$ALERTMANAGER_PORT" --storage.path="$RUN_DIR/alertmanager" \
    --cluster.listen-address="" >>"$RUN_DIR/logs/alertmanager.log" 2>&1 &
  echo $! >"$RUN_DIR/pids/alertmanager.pid"
}

native_running() {
  local s
  for s in "${SERVICES[@]}"; do pid_alive "$RUN_DIR/pids/$s.pid" && return 0; done
  return 1
}

start_native() {
  if native_running; then
    log "the system is already running natively (./run_services.sh status, or stop)"
    status_native
    return 0
  fi
  ensure_env
  check_ports_free
  mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids"
  echo native >"$MODE_FILE"
  load_secrets
  export ENVIRONMENT="${ENVIRONMENT:-development}"
  export USER_SERVICE_URL="${USER_SERVICE_URL:-$(url_of user)}"
  export PRODUCT_SERVICE_URL="${PRODUCT_SERVICE_URL:-$(url_of product)}"
  prepare_datastores
  local s
  for s in "${SERVICES[@]}"; do start_service "$s"; done
  if [[ "${NATIVE_MONITORING:-1}" != 0 ]]; then
    start_prometheus
    if pid_alive "$RUN_DIR/pids/prometheus.pid"; then start_alertmanager; fi
  fi
  for s in "${SERVICES[@]}"; do
    wait_ready "$s" "$(url_of "$s")" || { stop_native; die "$s did not become ready"; }
  done
  print_urls
}

stop_native() {
  local name pidfile
  for name in order product user prometheus alertmanager; do
    pidfile="$RUN_DIR/pids/$name.pid"
    if pid_alive "$pidfile"; then
      log "stopping $name"
      kill "$(cat "$pidfile")" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$pidfile" || break; sleep 0.2; done
      if pid_alive "$pidfile"; then kill -9 "$(cat "$pidfile")" 2>/dev/null || true; fi
    fi
    rm -f "$pidfile"
  done
  if [[ -f "$RUN_DIR/embedded.started" ]]; then
    log "stopping the embedded PostgreSQL/Redis (data kept in $RUN_DIR/embedded)"
    VENV_BIN="$ROOT_DIR/.venv/bin" stop_embedded "$RUN_DIR/embedded"
    rm -f "$RUN_DIR/embedded.started"
  fi
  rm -f "$MODE_FILE"
}

status_native() {
  local s state
  for s in "${SERVICES[@]}"; do
    if pid_alive "$RUN_DIR/pids/$s.pid"; then
      state="running (pid $(cat "$RUN_DIR/pids/$s.pid")), /ready -> $(ready_code "$(url_of "$s")")"
    else
      state="stopped"
    fi
    printf '  %-10s %-28s %s\n' "$s" "$(url_of "$s")" "$state"
  done
  if pid_alive "$RUN_DIR/pids/prometheus.pid"; then
    printf '  %-10s %-28s %s\n' prometheus "http://$HOST:$PROMETHEUS_PORT" "running"
  fi
  if pid_alive "$RUN_DIR/pids/alertmanager.pid"; then
    printf '  %-10s %-28s %s\n' alertmanager "http://$HOST:$ALERTMANAGER_PORT" "running"
  fi
}

print_urls() {
  echo
  echo "The shop is up (native mode):"
  local s
  for s in "${SERVICES[@]}"; do
    printf '  %-8s API %s   docs %s/docs   metrics %s/metrics\n' "$s" "$(url_of "$s")" \
      "$(url_of "$s")" "$(url_of "$s")"
  done
  pid_alive "$RUN_DIR/pids/prometheus.pid" && echo "  Prometheus http://$HOST:$PROMETHEUS_PORT"
  pid_alive "$RUN_DIR/pids/alertmanager.pid" && echo "  Alertmanager http://$HOST:$ALERTMANAGER_PORT"
  echo "  (Grafana runs in Docker mode: ./run_services.sh --docker)"
  echo "  logs: ./run_services.sh logs <service>   stop: ./run_services.sh stop"
}

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
  echo "  Prometheus http://localhost:9090  Alertmanager http://localhost:9093"
  echo "  Grafana http://localhost:${GRAFANA_PORT:-3030} (admin / GRAFANA_ADMIN_PASSWORD from .env)"
}

# ---------------------------------------------------------------- commands
mode="auto"
command="start"
for arg in "$@"; do
  case "$arg" in
    --native) mode=native ;;
    --docker) mode=docker ;;
    start|stop|status|logs) command="$arg" ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) [[ "$command" == logs ]] || die "unknown argument '$arg' (see --help)" ;;
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
      start_native
    fi
    ;;
  stop)
    if [[ "$current_mode" == docker ]]; then compose down; rm -f "$MODE_FILE"; else stop_native; fi
    ;;
  status)
    if [[ "$current_mode" == docker ]]; then compose ps; else status_native; fi
    ;;
  logs)
    shift_args=()
    for arg in "$@"; do [[ "$arg" == logs ]] || shift_args+=("$arg"); done
    service="${shift_args[0]:-user}"
    follow=""
    [[ " ${shift_args[*]} " == *" -f "* ]] && follow="-f"
    if [[ "$current_mode" == docker ]]; then
      compose logs ${follow:+--follow} "$service-service"
    else
      [[ -f "$RUN_DIR/logs/$service.log" ]] || die "no log for '$service' in $RUN_DIR/logs"
      tail -n "${LINES_SHOWN:-100}" ${follow:+-f} "$RUN_DIR/logs/$service.log"
    fi
    ;;
esac
