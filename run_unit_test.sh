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
# SKIP_FAULTS=1 skips the fault suite (about 5 minutes: six faults on real processes);
# SKIP_FUZZ=1 skips the schemathesis run against the three schemas (python -m tools.fuzz).
# SKIP_BROWSER=1 skips the storefront's browser tests (tests/browser, Playwright in Debian's
# chromium: apt-get install chromium, or CHROMIUM_PATH); BROWSER_REQUIRED=1 makes a missing
# Chromium an error (.ci/run sets it), otherwise it is a warning naming the package.
# SKIP_BENCH_SMOKE=1 skips the benchmark's smoke run (loadtest/run_benchmark.sh --smoke: its own
# native system, a second per scenario; skipped too when wrk is not installed).
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

paths=(common contracts scripts loadtest tests tools)
for s in "${services[@]}"; do paths+=("${s}_service"); done
step "ruff check" uv run --locked ruff check "${paths[@]}"
step "ruff format --check" uv run --locked ruff format --check "${paths[@]}"
# One mypy run per package named `tests` (every service has one, and so has common).
step "mypy (strict): common, contracts" uv run --locked mypy common/src contracts/src common/tests
for s in "${services[@]}"; do
  step "mypy (strict): $s" uv run --locked mypy common/src contracts/src "${s}_service/src" \
    "${s}_service/tests"
done
step "mypy (strict): tools, fault suite, browser tests" uv run --locked mypy tools tests/faults \
  tests/browser
step "mypy (strict): loadtest" uv run --locked mypy loadtest

# Every pytest run writes a JUnit report (counted by tools.test_results, not scraped from its
# output) and, under coverage (started before pytest, so import-time lines count), its data.
# Warnings are errors (pyproject's filterwarnings).
results_dir="$ROOT_DIR/.run/test-results"
rm -rf "$results_dir" && mkdir -p "$results_dir/logs"
# Every log the run writes ends up under $results_dir/logs (the pytest runs' records, and the
# logs and secrets of each native run: end-to-end, fuzz, faults), for the secret scan at the end.
export TEST_LOGS_DIR="$results_dir/logs"
COVERAGE_FLOOR="${COVERAGE_FLOOR:-90}"
run_pytest() {  # run_pytest LABEL PATH [ARGS...]
  local label="$1" path="$2" status=0
  shift 2
  SHOP_TEST_LOG_FILE="$results_dir/logs/${label// /-}.log" \
    COVERAGE_FILE="$results_dir/${label// /-}.coverage" uv run --locked coverage run \
    --source=common/src,contracts/src,user_service/src,product_service/src,order_service/src \
    -m pytest "$path" -q -p no:cacheprovider --junitxml="$results_dir/${label// /-}.xml" "$@" \
    || status=$?
  if [[ $status -eq 5 ]]; then warn "no tests collected for $label"; return 1; fi
  return "$status"
}
coverage_floor() {  # coverage_floor DATA_FILES INCLUDE: the floor on the code INCLUDE names
  local data="$1" include="$2" combined
  combined="$(mktemp)"
  # shellcheck disable=SC2086  # a list of files, split on purpose
  COVERAGE_FILE="$combined" uv run --locked coverage combine --keep -q $data
  COVERAGE_FILE="$combined" uv run --locked coverage report --include="$include" \
    --fail-under="$COVERAGE_FLOOR" --skip-covered --sort=cover
  local status=$?
  rm -f "$combined"
  return "$status"
}
if [[ ${#services[@]} -eq ${#ALL_SERVICES[@]} ]]; then
  step "pytest: common, contracts" run_pytest "common" common/tests
  step "pytest: loadtest (the benchmark's CPU reading)" run_pytest "loadtest" loadtest
fi
for s in "${services[@]}"; do
  step "pytest: $s service" run_pytest "$s service" "${s}_service/tests"
  step "coverage >= ${COVERAGE_FLOOR}%: $s service" \
    coverage_floor "$results_dir/$s-service.coverage" "${s}_service/src/*"
done
if [[ ${#services[@]} -eq ${#ALL_SERVICES[@]} ]]; then
  step "coverage >= ${COVERAGE_FLOOR}%: common, contracts (all test runs)" \
    coverage_floor "$(echo "$results_dir"/*.coverage)" "common/src/*,contracts/src/*"
fi

if [[ ${#services[@]} -eq ${#ALL_SERVICES[@]} ]]; then
  if command -v promtool >/dev/null 2>&1; then
    step "monitoring checks (promtool)" bash scripts/check_monitoring.sh
  else
    warn "promtool not installed: monitoring checks skipped (apt-get install prometheus)"
  fi
  if command -v kubectl >/dev/null 2>&1; then
    step "kubernetes manifests (kustomize, 1.31 schemas, policy)" \
      uv run --locked python -m tools.kubernetes check
  else
    warn "kubectl not installed: Kubernetes manifest checks skipped (it brings kustomize v5)"
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
  if [[ -n "${SKIP_FUZZ:-}" ]]; then
    warn "SKIP_FUZZ set: fuzz step skipped"
  else
    step "fuzz (schemathesis)" uv run --locked python -m tools.fuzz
  fi
  if [[ -z "${SKIP_BENCH_SMOKE:-}" ]] && command -v wrk >/dev/null 2>&1; then
    step "benchmark smoke run (loadtest/, wrk)" bash loadtest/run_benchmark.sh --smoke
  fi
  chromium="${CHROMIUM_PATH:-$(command -v chromium || echo /usr/bin/chromium)}"
  if [[ -n "${SKIP_BROWSER:-}" ]]; then
    warn "SKIP_BROWSER set: storefront browser tests skipped"
  elif [[ -x "$chromium" ]]; then
    step "storefront in Chromium (tests/browser, Playwright)" \
      env CHROMIUM_PATH="$chromium" SCREENSHOT_DIR="$results_dir/screenshots" \
      uv run --locked pytest tests/browser -q -p no:cacheprovider \
      --junitxml="$results_dir/browser.xml"
  elif [[ -n "${BROWSER_REQUIRED:-}" ]]; then
    failures+=("browser tests: Chromium not found at $chromium (apt-get install chromium)")
  else
    warn "Chromium not found: storefront browser tests skipped (Debian: apt-get install chromium, or set CHROMIUM_PATH)"
  fi
  if [[ -n "${SKIP_FAULTS:-}" ]]; then
    warn "SKIP_FAULTS set: fault suite skipped"
  else
    step "fault suite (tests/faults, real processes)" \
      uv run --locked pytest tests/faults -q -p no:cacheprovider \
      --junitxml="$results_dir/fault-suite.xml"
  fi
fi

step "no secret, token or password hash in the logs of this run" \
  uv run --locked python -m tools.log_secrets "$TEST_LOGS_DIR" --secrets-root "$TEST_LOGS_DIR"

read -r passed failed < <(uv run --locked python -m tools.test_results "$results_dir")
echo
if [[ ${#failures[@]} -gt 0 ]]; then
  printf '\033[31mFAILED:\033[0m %s\n' "${failures[@]}"
  echo "tests: ${passed} passed, $((failed > 0 ? failed : 1)) failed"
  exit 1
fi
echo "tests: ${passed} passed, 0 failed"
