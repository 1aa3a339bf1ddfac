#!/usr/bin/env bash
# Measures the system and this machine's ceilings in the same run (loadtest/bench.py).
#
#   loadtest/run_benchmark.sh                 # full run: writes loadtest/results/latest.{md,json}
#   loadtest/run_benchmark.sh --only order    # only the scenarios whose name has "order"
#   loadtest/run_benchmark.sh --smoke         # a few seconds in all, results thrown away (CI)
#   loadtest/run_benchmark.sh --user URL --product URL --order URL --database-url URL
#                                             # against a running system (its PostgreSQL server)
#
# Without --user it starts the system natively on its own state folder (.run/bench) and ports
# (28001-28003) as a user would (./run_services.sh --native: 2 workers per service, embedded
# PostgreSQL/Redis), with the rate limiter on but its limits above the load and the per-user
# unit bound of orders off (the hot-product scenario sends every order to one product), and
# stops and removes it at the end. Installs wrk with apt-get when missing and run as root.
# BENCH_PORTS="USER PRODUCT ORDER PROMETHEUS ALERTMANAGER" moves that run (or the smoke run) to
# other ports and to the state folder .run/bench-USER, so that several can run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

if ! command -v wrk >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]]; then
    log "installing wrk (apt-get install -y wrk)"
    apt-get install -y wrk >/dev/null || die "could not install wrk"
  else
    die "wrk is not installed: run 'sudo apt-get install -y wrk' (Debian/Ubuntu) first"
  fi
fi
VENV_BIN="$ROOT_DIR/.venv/bin"   # run_services.sh syncs it (uv sync --locked)

for arg in "$@"; do
  if [[ "$arg" == "--user" ]]; then
    [[ -x "$VENV_BIN/python" ]] || ensure_env
    exec "$VENV_BIN/python" loadtest/bench.py "$@"
  fi
done

name=bench ports=(28001 28002 28003 29090 29093) extra=()
if [[ "${1:-}" == "--smoke" ]]; then
  shift
  name=bench-smoke ports=(28101 28102 28103 29190 29193)
  smoke_out="$(mktemp -d)"
  extra=(--duration 1 --warmup 0 --products 200 --order-products 100 --users 10 --no-scaling
    --out-dir "$smoke_out" --header "Smoke run.")
fi
if [[ -n "${BENCH_PORTS:-}" ]]; then
  read -r -a ports <<<"$BENCH_PORTS"
  [[ ${#ports[@]} -eq 5 ]] || die "BENCH_PORTS needs 5 ports: user product order prometheus alertmanager"
  name="$name-${ports[0]}"
fi
isolated_native_stack "$name" "${ports[@]}"
if [[ -n "${smoke_out:-}" ]]; then
  trap '"$ROOT_DIR/run_services.sh" stop >/dev/null 2>&1 || true; keep_for_scan;
    rm -rf "$RUN_DIR" "$smoke_out"' EXIT
fi

export WEB_CONCURRENCY=2 LOG_LEVEL="${LOG_LEVEL:-WARNING}"
export RATE_LIMIT_ENABLED=true
export RATE_LIMIT_DEFAULT=1000000/minute RATE_LIMIT_AUTH=1000000/minute
export RATE_LIMIT_LOGIN_ACCOUNT=1000000/minute RATE_LIMIT_WRITE=1000000/minute
export ORDER_SERVICE_MAX_UNITS_PER_PRODUCT_PER_USER=0
export READY_TIMEOUT="${READY_TIMEOUT:-180}"   # a loaded machine starts slowly
log "starting the system natively under $RUN_DIR"
./run_services.sh --native >/dev/null

"$VENV_BIN/python" loadtest/bench.py --user "http://127.0.0.1:${ports[0]}" \
  --product "http://127.0.0.1:${ports[1]}" --order "http://127.0.0.1:${ports[2]}" \
  --pgdata "$RUN_DIR/embedded/pgdata" --run-dir "$RUN_DIR" "${extra[@]}" "$@"
