#!/usr/bin/env bash
# Checks everything under monitoring/ (Prometheus configs, alert rules and their unit tests,
# Alertmanager routing, Grafana dashboards) and the metric names they and
# docs/conventions.md use against the metrics the code declares.
# The checks are Python: tools/check_monitoring.py (see its docstring). Needs promtool (as
# root it installs the Debian packages prometheus and prometheus-alertmanager); exits 2
# without it, non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v uv >/dev/null 2>&1; then
  exec uv run --locked python -m tools.check_monitoring "$@"
fi
exec .venv/bin/python -m tools.check_monitoring "$@"
