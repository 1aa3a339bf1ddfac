#!/usr/bin/env bash
# Checks everything under monitoring/:
#   - both Prometheus configs (promtool check config, which also loads alerts.yml)
#   - the alerting rules and their unit tests (promtool check rules / test rules),
#     and that every alert has a firing and a silent test case
#   - the Alertmanager config and its severity routing (amtool, skipped if unavailable)
#   - the Grafana dashboards: valid, current with generate_dashboards.py, and
#     every PromQL expression parses (promtool check rules on a generated file)
#   - monitoring/metric_names.txt is current and uses only docs/conventions.md names
#
# Usage (from the repo root): scripts/check_monitoring.sh
# Needs promtool; as root it installs the Debian packages prometheus (promtool)
# and prometheus-alertmanager (amtool) when they are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROM_DIR=monitoring/prometheus
ALERTMANAGER_CONFIG=monitoring/alertmanager/alertmanager.yml
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

FAILED=()
PASSED=()
SKIPPED=()

# apt_install PACKAGE: install a Debian package if we are root; quiet unless it fails.
apt_install() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    echo "installing Debian package $1 ..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y --no-install-recommends "$1" >"$WORK/apt.log" 2>&1; then
        return 0
    fi
    # a fresh machine may have no package lists yet
    if apt-get update >>"$WORK/apt.log" 2>&1 \
        && apt-get install -y --no-install-recommends "$1" >>"$WORK/apt.log" 2>&1; then
        return 0
    fi
    tail -n 5 "$WORK/apt.log" >&2
    return 1
}

# check NAME COMMAND...: run one check, show its output indented, record the result.
check() {
    local name=$1
    shift
    printf '\n== %s\n' "$name"
    if "$@" >"$WORK/out" 2>&1; then
        PASSED+=("$name")
        sed 's/^/   /' "$WORK/out"
    else
        FAILED+=("$name")
        sed 's/^/   /' "$WORK/out"
        echo "   FAILED"
    fi
}

# ------------------------------------------------------------------ tools

if ! command -v promtool >/dev/null; then
    apt_install prometheus || true
fi
if ! command -v promtool >/dev/null; then
    echo "ERROR: promtool not found and could not be installed." >&2
    echo "       Install it (Debian/Ubuntu: apt-get install prometheus; or a Prometheus release) and rerun." >&2
    exit 2
fi

if ! command -v amtool >/dev/null; then
    apt_install prometheus-alertmanager || true
fi

PYTHON=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
        PYTHON=$candidate
        break
    fi
done
if [ -z "$PYTHON" ] && apt_install python3-yaml; then
    PYTHON=/usr/bin/python3
fi
if [ -z "$PYTHON" ]; then
    echo "ERROR: no python3 with PyYAML (Debian: python3-yaml)." >&2
    exit 2
fi

echo "promtool: $(promtool --version 2>&1 | head -n 1)"
echo "amtool:   $(command -v amtool >/dev/null && amtool --version 2>&1 | head -n 1 || echo 'not available')"
echo "python:   $PYTHON ($("$PYTHON" --version 2>&1))"

# ------------------------------------------------------------------ Prometheus

check "prometheus.yml (docker-compose)" promtool check config "$PROM_DIR/prometheus.yml"
check "prometheus.native.yml" promtool check config "$PROM_DIR/prometheus.native.yml"
check "alerting rules" promtool check rules "$PROM_DIR/alerts.yml"
check "alerting rule unit tests" promtool test rules "$PROM_DIR/alerts.test.yml"

# Every alert: severity, summary and description; a test where it fires (with
# labels and annotations) and one where it stays silent.
alert_coverage() {
    "$PYTHON" - "$PROM_DIR/alerts.yml" "$PROM_DIR/alerts.test.yml" <<'EOF'
import sys
import yaml

rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
cases = [c for t in yaml.safe_load(open(sys.argv[2]))["tests"] for c in t.get("alert_rule_test", [])]
problems = []
for rule in rules:
    name = rule["alert"]
    if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
        problems.append(f"{name}: labels.severity must be critical or warning")
    if not {"summary", "description"} <= set(rule.get("annotations", {})):
        problems.append(f"{name}: needs annotations summary and description")
    mine = [c for c in cases if c["alertname"] == name]
    firing = [a for c in mine for a in c.get("exp_alerts") or []]
    if not firing:
        problems.append(f"{name}: no test case where it fires")
    if any("severity" not in a.get("exp_labels", {}) or not a.get("exp_annotations") for a in firing):
        problems.append(f"{name}: a firing case lacks exp_labels.severity or exp_annotations")
    if not any(c.get("exp_alerts") == [] for c in mine):
        problems.append(f"{name}: no test case where it stays silent (exp_alerts: [])")
for problem in problems:
    print("ERROR:", problem)
print(f"{len(rules)} alerts, {len(cases)} test cases" + ("" if problems else ": every alert fires and stays silent in a test"))
sys.exit(1 if problems else 0)
EOF
}
check "alert test coverage" alert_coverage

# ------------------------------------------------------------------ Alertmanager

alertmanager_config() {
    amtool check-config "$ALERTMANAGER_CONFIG" || return 1
    # severity routing: critical -> critical, warning -> warning, anything else -> default
    local severity receiver
    for severity in critical warning info; do
        receiver=$severity
        [ "$severity" = info ] && receiver=default
        printf 'route severity=%s -> ' "$severity"
        amtool config routes test --config.file="$ALERTMANAGER_CONFIG" \
            --verify.receivers="$receiver" severity="$severity" service=order 2>&1 \
            | grep -v -- '--config.file flag overrides' || return 1
    done
}
if command -v amtool >/dev/null; then
    check "alertmanager.yml" alertmanager_config
else
    echo
    echo "== alertmanager.yml"
    echo "   SKIPPED: amtool not available (Debian package prometheus-alertmanager)"
    SKIPPED+=("alertmanager.yml (no amtool)")
fi

# ------------------------------------------------------------------ Grafana and metric names

check "dashboards (JSON, generated, structure)" "$PYTHON" monitoring/grafana/generate_dashboards.py --check

dashboard_promql() {
    "$PYTHON" scripts/list_metric_names.py --dashboard-rules "$WORK/dashboards.rules.json" >/dev/null || return 1
    promtool check rules "$WORK/dashboards.rules.json"
}
check "dashboard PromQL parses" dashboard_promql

check "metric_names.txt (conventions, current)" "$PYTHON" scripts/list_metric_names.py --check

# ------------------------------------------------------------------ summary

echo
echo "== summary"
for name in "${PASSED[@]}"; do echo "   PASS  $name"; done
for name in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do echo "   SKIP  $name"; done
for name in "${FAILED[@]+"${FAILED[@]}"}"; do echo "   FAIL  $name"; done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "monitoring check FAILED: ${#FAILED[@]} failed, ${#PASSED[@]} passed"
    exit 1
fi
echo "monitoring check passed: ${#PASSED[@]} passed, ${#SKIPPED[@]} skipped"
