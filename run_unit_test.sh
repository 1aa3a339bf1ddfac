#!/usr/bin/env bash
# Runs the checks and tests: ruff, mypy and pytest for every service (or those named),
# then the monitoring/container checks, the Postman end-to-end run and the fault suite
# (tests/faults) when all are tested. Every step prints its elapsed time.
#
#   ./run_unit_test.sh                 # everything
#   ./run_unit_test.sh user product    # only these services' lint, types and tests
#
# Uses TEST_DATABASE_URL / TEST_REDIS_URL when set; otherwise starts an embedded
# PostgreSQL and Redis (from the locked environment) under .run/test and stops them after.
# SKIP_E2E=1 skips the end-to-end run; E2E_REQUIRED=1 makes a missing npm an error;
# SKIP_FAULTS=1 skips the fault suite (about 5 minutes: six faults on real processes).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ALL_SERVICES=(user product order)
services=("$@")
[[ ${#services[@]} -eq 0 ]] && services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s' (user, product, order)"
done

ensure_env
failures=()
passed=0
failed=0

now() { echo "${EPOCHREALTIME/,/.}"; }
seconds_since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'; }

step() {  # step NAME COMMAND... : run, print its time, remember a failure, keep going
  local name="$1"; shift
  local started status=0
  log "$name"
  started="$(now)"
  "$@" || status=$?
  if [[ $status -eq 0 ]]; then
    log "$name ($(seconds_since "$started") s)"
  else
    log "$name ($(seconds_since "$started") s, failed)"
    failures+=("$name")
  fi
}

embedded_dir="$ROOT_DIR/.run/test"
cleanup() { [[ -n "${started_embedded:-}" ]] && stop_embedded "$embedded_dir"; }
trap cleanup EXIT
if [[ -z "${TEST_DATABASE_URL:-}" || -z "${TEST_REDIS_URL:-}" ]]; then
  log "starting embedded PostgreSQL and Redis for the tests"
  rm -rf "$embedded_dir"
  started_embedded=1
  start_embedded "$embedded_dir"
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$EMBEDDED_DATABASE_URL}"
  export TEST_REDIS_URL="${TEST_REDIS_URL:-$EMBEDDED_REDIS_URL}"
fi

paths=(common scripts loadtest tests)
for s in "${services[@]}"; do paths+=("${s}_service"); done
step "ruff check" uv run --locked ruff check "${paths[@]}"
step "ruff format --check" uv run --locked ruff format --check "${paths[@]}"
# One mypy run per service: every service has a package named `tests`.
for s in "${services[@]}"; do
  step "mypy (strict): $s" uv run --locked mypy common/src "${s}_service/src" "${s}_service/tests"
done
step "mypy (strict): fault suite" uv run --locked mypy tests/faults

run_pytest() {  # run_pytest LABEL PATH [ARGS...]: pytest, its counts added to the totals
  local label="$1" path="$2" out
  shift 2
  out="$(mktemp)"
  uv run --locked pytest "$path" -q -p no:cacheprovider "$@" 2>&1 | tee "$out"
  local status=${PIPESTATUS[0]}
  local p f
  read -r p f < <(tail -n 1 "$out" | awk '{for (i = 2; i <= NF; i++) {
    if ($i ~ /^passed/) p += $(i - 1); if ($i ~ /^(failed|error)/) f += $(i - 1) }}
    END { print p + 0, f + 0 }')
  passed=$((passed + p))
  failed=$((failed + f))
  rm -f "$out"
  if [[ $status -eq 5 ]]; then warn "no tests collected for $label"; return 1; fi
  return "$status"
}
for s in "${services[@]}"; do
  step "pytest: $s service" run_pytest "$s service" "${s}_service/tests"
done

if [[ ${#services[@]} -eq ${#ALL_SERVICES[@]} ]]; then
  if command -v promtool >/dev/null 2>&1; then
    step "monitoring checks (promtool)" bash scripts/check_monitoring.sh
  else
    warn "promtool not installed: monitoring checks skipped (apt-get install prometheus)"
  fi
  if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then
    step "container checks (compose config)" bash scripts/check_containers.sh
  else
    warn "docker-compose not installed: container checks skipped"
  fi
  if [[ -n "${SKIP_E2E:-}" ]]; then
    warn "SKIP_E2E set: end-to-end run skipped"
  elif command -v npm >/dev/null 2>&1 || command -v newman >/dev/null 2>&1; then
    step "end-to-end (newman against the native system)" bash scripts/e2e_native.sh
  elif [[ -n "${E2E_REQUIRED:-}" ]]; then
    failures+=("end-to-end: npm/newman not available")
  else
    warn "npm not installed: Postman end-to-end run skipped"
  fi
  if [[ -n "${SKIP_FAULTS:-}" ]]; then
    warn "SKIP_FAULTS set: fault suite skipped"
  else
    step "fault suite (tests/faults, real processes)" run_pytest "fault suite" tests/faults
  fi
fi

echo
if [[ ${#failures[@]} -gt 0 ]]; then
  printf '\033[31mFAILED:\033[0m %s\n' "${failures[@]}"
  echo "tests: ${passed} passed, $((failed > 0 ? failed : 1)) failed"
  exit 1
fi
echo "tests: ${passed} passed, 0 failed"
