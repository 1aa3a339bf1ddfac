"""The PromQL of the alert rules, their unit tests and the Grafana dashboards, parsed with
promql-parser and checked against the declared metrics (tools.metrics).

Every selector must name a declared series (a histogram's _bucket/_sum/_count, a
counter's _total) or one Prometheus itself adds (`up`); every matcher must use a label that
series has; every value matched for an enumerated label must be one it takes; every
grouping label must exist. A typo fails here instead of drawing an empty panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import promql_parser
import yaml

from tools.metrics import series_names
from tools.workspace import ROOT

__all__ = [
    "Expression",
    "Values",
    "alert_expressions",
    "alert_test_series",
    "check_expressions",
    "dashboard_expressions",
]

ALERTS = ROOT / "monitoring" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "monitoring" / "prometheus" / "alerts.test.yml"
DASHBOARDS = ROOT / "monitoring" / "grafana" / "dashboards"

TARGET_LABELS = frozenset({"job", "instance"})  # added by Prometheus to every scraped series
PROMETHEUS_SERIES = {"up": frozenset[str]()}  # series Prometheus itself records
# Grafana variables and the values they get for parsing.
GRAFANA_VARIABLES = {
    "service": "user",
    "route": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}
PLAIN_ALTERNATION = re.compile(r"[\w-]+(?:\|[\w-]+)*")

# metric name -> label -> the values it takes (None: any)
Values = Mapping[str, Mapping[str, frozenset[str] | None]]


@dataclass(frozen=True)
class Expression:
    where: str  # for messages: file and rule, panel or series
    expr: str
    record: str = ""  # a recording-rule name for `promtool check rules` (dashboards)


def alert_expressions() -> list[Expression]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [
        Expression(f"{ALERTS.name} {rule.get('alert') or rule.get('record')}", str(rule["expr"]))
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def alert_test_series() -> list[Expression]:
    """The input series of the alert unit tests (selectors of declared series too)."""
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    return [
        Expression(f"{ALERT_TESTS.name} {test.get('name', '?')!r}", str(series["series"]))
        for test in tests["tests"]
        for series in test.get("input_series") or []
    ]


def _substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in GRAFANA_VARIABLES:
            raise KeyError(f"unknown Grafana variable ${name}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def dashboard_expressions() -> tuple[list[Expression], list[str]]:
    """Every panel target and label_values() variable, Grafana variables replaced."""
    found, problems = [], []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        slug = re.sub(r"\W", "_", path.stem)
        for variable in (board.get("templating") or {}).get("list", []):
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            inner = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
            if inner:
                where = f"{path.name} variable {variable['name']}"
                record = f"dashboard:{slug}:var_{variable['name']}"
                found.append(Expression(where, _substitute(inner[1]), record))
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                panel_id, ref = panel.get("id"), target.get("refId")
                where = f"{path.name} panel {panel_id} {panel.get('title')!r} {ref}"
                record = f"dashboard:{slug}:panel_{panel_id}_{ref}"
                try:
                    found.append(Expression(where, _substitute(target["expr"]), record))
                except KeyError as exc:
                    problems.append(f"{where}: {exc.args[0]}")
    return found, problems


def _walk(expr: promql_parser.Expr) -> tuple[list[promql_parser.VectorSelector], set[str]]:
    """The vector selectors of an expression and the labels it groups or matches by."""
    selectors: list[promql_parser.VectorSelector] = []
    grouping: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                grouping.update(node.modifier.matching.labels)
            grouping.update(node.modifier.group_labels or [])

    promql_parser.walk(expr, visit)
    return selectors, grouping


def _matcher_problems(
    where: str,
    name: str,
    matcher: promql_parser.Matcher,
    labels: Mapping[str, frozenset[str] | None],
) -> list[str]:
    if matcher.name not in labels:
        return [f"{where}: {name} has no label {matcher.name!r}"]
    allowed = labels[matcher.name]
    regex = matcher.op in (promql_parser.MatchOp.Re, promql_parser.MatchOp.NotRe)
    if allowed is None or (regex and not PLAIN_ALTERNATION.fullmatch(matcher.value)):
        return []  # a free label, or a real regex: unchecked
    wanted = matcher.value.split("|") if regex else [matcher.value]
    return [
        f"{where}: {name}{{{matcher.name}}} has no value {v!r}" for v in wanted if v not in allowed
    ]


def check_expression(expression: Expression, values: Values) -> tuple[set[str], list[str]]:
    """The declared metrics an expression uses, and the problems found in it."""
    where = expression.where
    try:
        parsed = promql_parser.parse(expression.expr)
    except (ValueError, RuntimeError) as exc:
        return set(), [f"{where}: does not parse: {exc}"]
    selectors, grouping = _walk(parsed)
    series = series_names()
    used: set[str] = set()
    problems: list[str] = []
    known = set(TARGET_LABELS)
    for selector in selectors:
        name = selector.name
        if name is None:
            problems.append(f"{where}: selector {selector} has no metric name")
            continue
        labels: dict[str, frozenset[str] | None]
        if name in PROMETHEUS_SERIES:
            labels = {}
        elif name in series:
            metric, extra = series[name]
            used.add(metric.name)
            given = values.get(metric.name, {})
            labels = {label: given.get(label) for label in metric.labels}
            labels.update(dict.fromkeys(extra))
        else:
            problems.append(f"{where}: {name} is not a declared metric (python -m tools.metrics)")
            continue
        labels.update(dict.fromkeys(TARGET_LABELS))
        known |= set(labels)
        for matcher in selector.matchers.matchers:
            problems += _matcher_problems(where, name, matcher, labels)
    problems += [
        f"{where}: groups by unknown label {label!r}" for label in sorted(grouping - known)
    ]
    return used, problems


def check_expressions(expressions: list[Expression], values: Values) -> tuple[set[str], list[str]]:
    """The declared metrics the expressions use, and every problem found in them."""
    used: set[str] = set()
    problems: list[str] = []
    for expression in expressions:
        names, found = check_expression(expression, values)
        used |= names
        problems += found
    return used, problems
