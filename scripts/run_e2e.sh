#!/usr/bin/env bash
# End-to-end run of the Postman collection against services that are already up
# (start them with ./run_services.sh). Exits non-zero on the first failed check.
#
#   scripts/run_e2e.sh [extra newman args...]
#
# Environment:
#   USER_URL / PRODUCT_URL / ORDER_URL  override the URLs of postman/local.postman_environment.json
#   NEWMAN                              newman binary to use (default: on PATH, else installed
#                                       with npm under .run/node)
#   E2E_WAIT_SECONDS                    how long to wait for the three /health-check/ to answer
#                                       before running (default 30; 0 = do not wait)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

collection=postman/shop.postman_collection.json
environment=postman/local.postman_environment.json
local_newman=.run/node/node_modules/.bin/newman

find_newman() {
    if [[ -n "${NEWMAN:-}" ]]; then
        echo "$NEWMAN"
    elif command -v newman >/dev/null 2>&1; then
        command -v newman
    elif [[ -x "$local_newman" ]]; then
        echo "$local_newman"
    else
        if ! command -v npm >/dev/null 2>&1; then
            echo "run_e2e: newman is not installed and npm is missing (install Node.js and npm)" >&2
            return 1
        fi
        echo "run_e2e: installing newman under .run/node" >&2
        mkdir -p .run/node
        npm install --prefix .run/node --no-audit --no-fund --loglevel=error newman >&2
        echo "$local_newman"
    fi
}

# Services started a moment ago may still be booting: give them a little time.
wait_until_up() {
    local url=$1 deadline=$((SECONDS + ${E2E_WAIT_SECONDS:-30}))
    until curl -fs -o /dev/null --max-time 2 "$url/health-check/"; do
        if ((SECONDS >= deadline)); then
            echo "run_e2e: $url/health-check/ does not answer (start the services with ./run_services.sh)" >&2
            return 1
        fi
        sleep 1
    done
}

newman_bin=$(find_newman)

if [[ "${E2E_WAIT_SECONDS:-30}" != 0 ]] && command -v curl >/dev/null 2>&1; then
    for url in "${USER_URL:-http://localhost:8001}" "${PRODUCT_URL:-http://localhost:8002}" \
        "${ORDER_URL:-http://localhost:8003}"; do
        wait_until_up "$url"
    done
fi

args=(run "$collection" -e "$environment" --bail)
if [[ -n "${USER_URL:-}" ]]; then args+=(--env-var "user_url=$USER_URL"); fi
if [[ -n "${PRODUCT_URL:-}" ]]; then args+=(--env-var "product_url=$PRODUCT_URL"); fi
if [[ -n "${ORDER_URL:-}" ]]; then args+=(--env-var "order_url=$ORDER_URL"); fi

echo "run_e2e: $newman_bin ${args[*]} $*" >&2
exec "$newman_bin" "${args[@]}" "$@"
