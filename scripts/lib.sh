# Shared shell helpers for run_services.sh and run_unit_test.sh (sourced, not run).
# Native mode itself is Python: tools/native (python -m tools.native start|stop|status|logs).
# shellcheck shell=bash

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python (3.11+), never download one

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Puts uv on PATH (installing it with pip when missing) and syncs the locked environment.
ensure_env() {
  if ! command -v uv >/dev/null 2>&1; then
    local py
    py="$(command -v python3 || command -v python)" || die "Python 3.11+ is required"
    log "installing uv with pip"
    "$py" -m pip install --quiet --user uv 2>/dev/null || "$py" -m pip install --quiet uv \
      || die "could not install uv (pip install uv)"
    PATH="$("$py" -m site --user-base)/bin:$PATH"
    export PATH
    command -v uv >/dev/null 2>&1 || die "uv installed but not on PATH"
  fi
  log "syncing the locked virtual environment (uv sync --locked)"
  (cd "$ROOT_DIR" && uv sync --locked --quiet) || die "uv sync failed"
  VENV_BIN="$ROOT_DIR/.venv/bin"
  export VENV_BIN
}

# Starts the embedded PostgreSQL + Redis under $1 and exports EMBEDDED_DATABASE_URL/_REDIS_URL.
start_embedded() {
  local dir="$1" redis_port="${2:-0}" exports
  exports="$("$VENV_BIN/python" "$ROOT_DIR/scripts/embedded.py" start "$dir" --redis-port "$redis_port")" \
    || die "could not start the embedded PostgreSQL/Redis (see $dir)"
  eval "$exports"
}

stop_embedded() {
  "$VENV_BIN/python" "$ROOT_DIR/scripts/embedded.py" stop "$1" || true
}

# 48 random bytes as 64 URL-safe characters (like Python's secrets.token_urlsafe(48)).
random_secret() {
  head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_'
}

# Prepares a private native system for a one-off run (end-to-end test, benchmark): its own
# state folder .run/NAME (removed before and after) and ports, none of the caller's servers
# or URLs, and a trap that stops it at exit. Then `./run_services.sh --native` starts it.
#   isolated_native_stack NAME USER_PORT PRODUCT_PORT ORDER_PORT PROMETHEUS_PORT ALERTMANAGER_PORT
isolated_native_stack() {
  export RUN_DIR="$ROOT_DIR/.run/$1"
  export USER_SERVICE_PORT="$2" PRODUCT_SERVICE_PORT="$3" ORDER_SERVICE_PORT="$4"
  export PROMETHEUS_PORT="$5" ALERTMANAGER_PORT="$6"
  export NATIVE_WEB=0  # no storefront (it would take :5173; tests/browser starts its own)
  unset DATABASE_URL REDIS_URL USER_SERVICE_URL PRODUCT_SERVICE_URL
  unset USER_SERVICE_DATABASE_URL PRODUCT_SERVICE_DATABASE_URL ORDER_SERVICE_DATABASE_URL
  unset USER_SERVICE_REDIS_URL PRODUCT_SERVICE_REDIS_URL ORDER_SERVICE_REDIS_URL
  rm -rf "$RUN_DIR"
  trap '"$ROOT_DIR/run_services.sh" stop >/dev/null 2>&1 || true; keep_for_scan; rm -rf "$RUN_DIR"' EXIT
}

# With TEST_LOGS_DIR set (./run_unit_test.sh), a one-off run's logs and secrets are copied
# there before its folder is removed, for the scan of the logs for secrets (tools.log_secrets).
keep_for_scan() {
  [[ -n "${TEST_LOGS_DIR:-}" && -d "${RUN_DIR:-}" ]] || return 0
  local target
  target="$TEST_LOGS_DIR/$(basename "$RUN_DIR")"
  mkdir -p "$target"
  cp -r "$RUN_DIR/logs" "$target/" 2>/dev/null || true
  cp "$RUN_DIR/secrets.env" "$target/" 2>/dev/null || true
}
