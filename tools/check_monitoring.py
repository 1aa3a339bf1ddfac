"""Checks of everything under monitoring/, and of the metric names against the code.

    python -m tools.check_monitoring        (scripts/check_monitoring.sh runs it)

- both Prometheus configs (promtool check config, which also loads alerts.yml);
- the alert rules and their unit tests (promtool check rules / test rules), and that every
  alert has severity, summary and description, a test where it fires and one where it
  stays silent;
- the Alertmanager config and its severity routing (amtool; skipped when unavailable);
- the Grafana dashboards: valid, current with generate_dashboards.py, every PromQL
  expression parses (promtool check rules on a generated rules file);
- metric names: docs/conventions.md's table, the alert rules, their test series and the
  dashboards agree with the metrics the code declares (tools.metrics, tools.promql).

Needs promtool; as root it installs the Debian packages prometheus (promtool) and
prometheus-alertmanager (amtool) when they are missing. Exits 2 without promtool.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from tools import conventions, promql
from tools.external import apt_install, run, which
from tools.metrics import Metric, declared_metrics
from tools.report import Report
from tools.workspace import ROOT

PROMETHEUS = ROOT / "monitoring" / "prometheus"
ALERTMANAGER_CONFIG = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
GENERATOR = ROOT / "monitoring" / "grafana" / "generate_dashboards.py"
# severity label -> the receiver Alertmanager must route it to
ROUTES = {"critical": "critical", "warning": "warning", "info": "default"}


def _tool(name: str, package: str) -> str | None:
    found = which(name)
    if found is None and apt_install(package):
        found = which(name)
    return found


def _command_check(report: Report, title: str, command: Sequence[str]) -> bool:
    report.section(title)
    result = run(command)
    for line in result.output.splitlines():
        report.info(f"   {line}")
    if result.ok:
        report.ok(title)
    else:
        report.fail(title)
    return result.ok


def alert_coverage() -> tuple[str, list[str]]:
    """A summary line, and every alert lacking labels, annotations or tests."""
    rules = yaml.safe_load(promql.ALERTS.read_text(encoding="utf-8"))
    tests = yaml.safe_load(promql.ALERT_TESTS.read_text(encoding="utf-8"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    cases = [c for t in tests["tests"] for c in t.get("alert_rule_test") or []]
    problems = []
    for rule in alerts:
        name = rule["alert"]
        if (rule.get("labels") or {}).get("severity") not in ("critical", "warning"):
            problems.append(f"{name}: labels.severity must be critical or warning")
        if not {"summary", "description"} <= set(rule.get("annotations") or {}):
            problems.append(f"{name}: needs annotations summary and description")
        mine = [c for c in cases if c["alertname"] == name]
        firing = [a for c in mine for a in c.get("exp_alerts") or []]
        if not firing:
            problems.append(f"{name}: no test case where it fires")
        if any(
            "severity" not in (a.get("exp_labels") or {}) or not a.get("exp_annotations")
            for a in firing
        ):
            problems.append(f"{name}: a firing case lacks exp_labels.severity or exp_annotations")
        if not any(c.get("exp_alerts") == [] for c in mine):
            problems.append(f"{name}: no test case where it stays silent (exp_alerts: [])")
    return f"{len(alerts)} alerts, {len(cases)} test cases", problems


def check_alertmanager(report: Report, amtool: str | None) -> None:
    title = "alertmanager.yml and its severity routing"
    if amtool is None:
        report.section(title)
        report.skip(f"{title}: amtool not available (Debian package prometheus-alertmanager)")
        return
    if not _command_check(
        report, "alertmanager.yml", [amtool, "check-config", str(ALERTMANAGER_CONFIG)]
    ):
        return
    problems = []
    for severity, receiver in ROUTES.items():
        result = run(
            [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}"]
            + [f"--verify.receivers={receiver}", f"severity={severity}", "service=order"]
        )
        if not result.ok:
            problems.append(
                f"severity={severity} is not routed to {receiver}: {result.output.strip()}"
            )
    report.check(f"routing: {', '.join(f'{s} -> {r}' for s, r in ROUTES.items())}", problems)


def check_dashboard_promql(report: Report, promtool: str) -> None:
    report.section("dashboard PromQL parses (promtool)")
    expressions, problems = promql.dashboard_expressions()
    rules = [{"record": e.record, "expr": e.expr} for e in expressions]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboards.rules.json"
        path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
        result = run([promtool, "check", "rules", str(path)])
    if not result.ok:
        problems += result.output.splitlines()
    report.check(f"{len(expressions)} dashboard expressions parse", problems)


def allowed_values(
    declared: dict[str, Metric], documented: dict[str, conventions.DocumentedMetric]
) -> promql.Values:
    """Per metric and label, the values PromQL may match: those documented (checked against
    the code's start-up values) or else those created at start-up; None where free."""
    values: dict[str, dict[str, frozenset[str] | None]] = {}
    for name, metric in declared.items():
        row = documented.get(name)
        values[name] = {
            label: (row.labels.get(label) if row else None) or metric.values.get(label)
            for label in metric.labels
        }
    return values


def check_metric_names(report: Report) -> None:
    report.section("metric names (the code declares them: python -m tools.metrics)")
    declared = declared_metrics()
    report.check(
        f"docs/conventions.md documents the {len(declared)} declared metrics as declared",
        conventions.problems(declared),
    )
    values = allowed_values(declared, conventions.documented_metrics()[0])
    dashboards, problems = promql.dashboard_expressions()
    sources = {
        "alert rules": promql.alert_expressions(),
        "alert unit test series": promql.alert_test_series(),
        "dashboards": dashboards,
    }
    for title, expressions in sources.items():
        used, found = promql.check_expressions(expressions, values)
        report.check(
            f"{title}: {len(expressions)} expressions use {len(used)} declared metrics, "
            "with their labels and values",
            (problems if title == "dashboards" else []) + found,
        )


def main() -> int:
    promtool = _tool("promtool", "prometheus")
    if promtool is None:
        print("ERROR: promtool not found and could not be installed.", file=sys.stderr)
        print(
            "       Install it (Debian/Ubuntu: apt-get install prometheus) and rerun.",
            file=sys.stderr,
        )
        return 2
    amtool = _tool("amtool", "prometheus-alertmanager")
    report = Report("check_monitoring")
    report.info(f"promtool: {run([promtool, '--version']).output.splitlines()[0]}")
    version = run([amtool, "--version"]).output.splitlines()[0] if amtool else "not available"
    report.info(f"amtool:   {version}")

    for config in ("prometheus.yml", "prometheus.native.yml"):
        _command_check(report, config, [promtool, "check", "config", str(PROMETHEUS / config)])
    _command_check(report, "alerting rules", [promtool, "check", "rules", str(promql.ALERTS)])
    _command_check(
        report, "alerting rule unit tests", [promtool, "test", "rules", str(promql.ALERT_TESTS)]
    )
    report.section("alert test coverage")
    summary, problems = alert_coverage()
    report.check(
        f"{summary}: every alert is labelled, annotated, fires and stays silent in a test", problems
    )

    check_alertmanager(report, amtool)
    _command_check(
        report,
        "dashboards (JSON, generated, structure)",
        [sys.executable, str(GENERATOR), "--check"],
    )
    check_dashboard_promql(report, promtool)
    check_metric_names(report)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
