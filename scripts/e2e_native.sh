#!/usr/bin/env bash
# The end-to-end step of ./run_unit_test.sh: starts the whole system natively on its own
# ports with its own embedded PostgreSQL/Redis (under .run/e2e, removed afterwards), runs the
# Postman collection with newman against it, and stops everything again.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# This run owns everything it touches: never the caller's servers or URLs.
isolated_native_stack e2e "${E2E_USER_PORT:-18001}" "${E2E_PRODUCT_PORT:-18002}" \
  "${E2E_ORDER_PORT:-18003}" "${E2E_PROMETHEUS_PORT:-19090}" "${E2E_ALERTMANAGER_PORT:-19093}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"

./run_services.sh --native
USER_URL="http://127.0.0.1:$USER_SERVICE_PORT" \
PRODUCT_URL="http://127.0.0.1:$PRODUCT_SERVICE_PORT" \
ORDER_URL="http://127.0.0.1:$ORDER_SERVICE_PORT" \
  bash scripts/run_e2e.sh

# Redis ACLs: nothing the services sent during the run was refused (they fail open, so
# only the ACL LOG would show a command or key missing from tools/native/redis_acl.py).
.venv/bin/python -m tools.native check-redis-acl

prometheus_args=()
if [[ -f "$RUN_DIR/pids/prometheus.pid" ]]; then
  prometheus_args=(--prometheus "http://127.0.0.1:$PROMETHEUS_PORT")
fi
.venv/bin/python -m tools.check_exported_metrics "http://127.0.0.1:$USER_SERVICE_PORT" \
  "http://127.0.0.1:$PRODUCT_SERVICE_PORT" "http://127.0.0.1:$ORDER_SERVICE_PORT" \
  "${prometheus_args[@]}"
