#!/usr/bin/env bash
# Starts the system natively on its own ports (28001-28003) with rate limiting off and its
# own embedded PostgreSQL/Redis under .run/bench, runs loadtest/bench.py against it, writes
# the report to loadtest/results/latest.md and stops everything.
#
#   loadtest/run_benchmark.sh [--duration 10] [--concurrency 32] [--only order]
# Environment: WEB_CONCURRENCY (workers per service, default 1 on a 2-core machine),
# ORDER_SERVICE_HTTP_TRANSPORT (httpx | aiohttp).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

isolated_native_stack bench 28001 28002 28003 29090 29093
export RATE_LIMIT_ENABLED=false
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}"
./run_services.sh --native >/dev/null

mkdir -p loadtest/results
{
  echo "# Benchmark $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$(nproc) cores; workers per service: $WEB_CONCURRENCY;" \
       "order->product transport: ${ORDER_SERVICE_HTTP_TRANSPORT:-httpx}"
  echo
  .venv/bin/python loadtest/bench.py --user http://127.0.0.1:28001 \
    --product http://127.0.0.1:28002 --order http://127.0.0.1:28003 "$@"
} | tee loadtest/results/latest.md
