#!/usr/bin/env python3
"""Lists the metric names used by the alerts and dashboards of monitoring/.

    python3 scripts/list_metric_names.py                  # print them
    python3 scripts/list_metric_names.py --write          # rewrite monitoring/metric_names.txt
    python3 scripts/list_metric_names.py --check          # fail if that file is out of date
    python3 scripts/list_metric_names.py --dashboard-rules FILE
        # also write the dashboards' PromQL, Grafana variables replaced by
        # concrete values, as a rules file (one recording rule per expression)
        # for `promtool check rules FILE`

Names are base names (a histogram's _bucket/_sum/_count count as the
histogram), `up` left out. Every name must be a metric of docs/conventions.md,
every label matcher must use a label that metric has, and every value matched
for an enumerated label (outcome, status of orders, ...) must be one listed
there: a typo fails here instead of drawing an empty panel.

Run from anywhere; needs PyYAML (python3-yaml) to read alerts.yml.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONVENTIONS = ROOT / "docs" / "conventions.md"
ALERTS = ROOT / "monitoring" / "prometheus" / "alerts.yml"
DASHBOARDS = ROOT / "monitoring" / "grafana" / "dashboards"
NAMES_FILE = ROOT / "monitoring" / "metric_names.txt"

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Grafana variables and the values they get for the syntax check.
GRAFANA_VARIABLES = {
    "service": "user",
    "route": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}


# --------------------------------------------------------------------------- conventions


@dataclass
class Metric:
    kind: str
    labels: dict[str, set[str] | None] = field(
        default_factory=dict
    )  # label -> allowed values, None = free


def read_conventions() -> dict[str, Metric]:
    """The metrics table of docs/conventions.md: name, type and labels (with their values)."""
    text = CONVENTIONS.read_text()
    services_line = re.search(r"carries a `service` label:([^\n]*)", text)
    services = set(re.findall(r"`([\w-]+)`", services_line.group(1))) if services_line else None
    metrics: dict[str, Metric] = {}
    row = re.compile(
        r"^\|\s*`([a-zA-Z_:][\w:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|(.*)\|\s*$"
    )
    for line in text.splitlines():
        match = row.match(line)
        if not match:
            continue
        name, kind, labels_cell = match.groups()
        metric = Metric(kind, {"service": services})
        # "`outcome` (`reserved`, `insufficient_stock`)" -> outcome: {reserved, insufficient_stock};
        # "`route` (template, e.g. `/api/...`)" -> route: free
        for label, _, details in re.findall(r"`([a-zA-Z_]\w*)`\s*(\(([^()]*)\))?", labels_cell):
            values = re.findall(r"`([^`]*)`", details)
            free = not values or re.sub(r"`[^`]*`|[\s,]", "", details)
            metric.labels[label] = None if free else set(values)
        metrics[name] = metric
    if not metrics:
        sys.exit(f"no metrics table found in {CONVENTIONS}")
    return metrics


# --------------------------------------------------------------------------- PromQL scanning

TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
      | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]*)
      | (?P<ident>[a-zA-Z_:][\w:]*)
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],@])""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


@dataclass
class Selector:
    metric: str | None
    matchers: list[tuple[str, str, str]]  # (label, operator, value)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if not match:
            raise ValueError(f"cannot read PromQL at {expr[pos : pos + 20]!r}")
        pos = match.end()
        if match.lastgroup != "space":
            tokens.append((str(match.lastgroup), match.group()))
    return tokens


def unquote(token: str) -> str:
    body = token[1:-1]
    return body if token[0] == "`" else re.sub(r"\\(.)", r"\1", body)


def scan(expr: str) -> tuple[list[Selector], set[str]]:
    """The series selectors of an expression and the labels it groups by."""
    tokens = tokenize(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in GROUPING and following == "(":
            i += 2
            while i < len(tokens) and tokens[i][1] != ")":
                if tokens[i][0] == "ident":
                    grouping.add(tokens[i][1])
                i += 1
        elif kind == "ident" and (following in ("(", "by", "without") or text in KEYWORDS):
            pass  # function, aggregation (`sum by (...)`) or operator keyword
        elif kind == "ident" or text == "{":
            metric = text if kind == "ident" else None
            matchers = []
            if kind == "ident" and following == "{":
                i += 1
            if tokens[i][1] == "{":
                i += 1
                while tokens[i][1] != "}":
                    if tokens[i][1] == ",":
                        i += 1
                        continue
                    label, operator, value = (
                        tokens[i][1],
                        tokens[i + 1][1],
                        unquote(tokens[i + 2][1]),
                    )
                    matchers.append((label, operator, value))
                    i += 3
            selectors.append(Selector(metric, matchers))
        i += 1
    return selectors, grouping


def base_name(name: str, metrics: dict[str, Metric]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        stem = name.removesuffix(suffix)
        if stem != name and metrics.get(stem, Metric("")).kind == "histogram":
            return stem
    return name


def check_expression(
    where: str, expr: str, metrics: dict[str, Metric]
) -> tuple[set[str], list[str]]:
    """Metric base names used by expr, and the problems found in it."""
    try:
        selectors, grouping = scan(expr)
    except (ValueError, IndexError) as exc:
        return set(), [f"{where}: {exc or 'unbalanced braces'}"]
    names, problems, known_labels = set(), [], set(TARGET_LABELS) | {"service"}
    for selector in selectors:
        if selector.metric is None:
            problems.append(f"{where}: selector without a metric name")
            continue
        name = base_name(selector.metric, metrics)
        if name == "up":
            labels: dict[str, set[str] | None] = {}
        elif name in metrics:
            names.add(name)
            labels = dict(metrics[name].labels)
            if selector.metric.endswith("_bucket"):
                labels["le"] = None
        else:
            problems.append(f"{where}: metric {selector.metric!r} is not in docs/conventions.md")
            continue
        labels.update(dict.fromkeys(TARGET_LABELS))
        known_labels |= set(labels)
        for label, operator, value in selector.matchers:
            if label not in labels:
                problems.append(f"{where}: {selector.metric} has no label {label!r}")
                continue
            allowed = labels[label]
            if allowed is None:
                continue
            # equality: the value itself; regex: a plain a|b|c alternation, else unchecked
            wanted = [value] if operator in ("=", "!=") else value.split("|")
            if operator in ("=~", "!~") and not all(re.fullmatch(r"[\w-]+", v) for v in wanted):
                continue
            for v in wanted:
                if v not in allowed:
                    problems.append(f"{where}: {selector.metric}{{{label}}} has no value {v!r}")
    for label in sorted(grouping - known_labels - {"le"}):
        problems.append(f"{where}: grouping by unknown label {label!r}")
    return names, problems


# --------------------------------------------------------------------------- sources


def alert_expressions() -> list[tuple[str, str]]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        sys.exit("PyYAML is needed to read alerts.yml (Debian: python3-yaml, PyPI: PyYAML)")
    rules = yaml.safe_load(ALERTS.read_text())
    return [
        (f"alerts.yml {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise KeyError(f"unknown Grafana variable ${name}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def dashboard_expressions() -> tuple[list[tuple[str, str, str]], list[str]]:
    """(slug, where, expr with variables replaced) of every panel target, and problems."""
    found, problems = [], []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        slug = re.sub(r"\W", "_", path.stem)
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query or ""
            # label_values(metric{...}, label): check the selector part
            inner = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
            if inner:
                found.append(
                    (
                        f"{slug}:var_{variable['name']}",
                        f"{path.name} variable {variable['name']}",
                        substitute(inner.group(1)),
                    )
                )
        for panel in board.get("panels", []):
            for tgt in panel.get("targets", []):
                where = (
                    f"{path.name} panel {panel.get('id')} {panel.get('title')!r} {tgt.get('refId')}"
                )
                try:
                    found.append(
                        (
                            f"{slug}:panel_{panel.get('id')}_{tgt.get('refId')}",
                            where,
                            substitute(tgt["expr"]),
                        )
                    )
                except KeyError as exc:
                    problems.append(f"{where}: {exc.args[0]}")
    return found, problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {NAMES_FILE.relative_to(ROOT)}")
    mode.add_argument(
        "--check", action="store_true", help=f"compare with {NAMES_FILE.relative_to(ROOT)}"
    )
    parser.add_argument(
        "--dashboard-rules", metavar="FILE", help="write the dashboards' PromQL as a rules file"
    )
    args = parser.parse_args()

    metrics = read_conventions()
    dashboard_exprs, problems = dashboard_expressions()
    names: set[str] = set()
    for where, expr in alert_expressions() + [(where, expr) for _, where, expr in dashboard_exprs]:
        used, found = check_expression(where, expr, metrics)
        names |= used
        problems += found
    listing = "".join(f"{name}\n" for name in sorted(names))

    if args.dashboard_rules:
        rules = [{"record": f"dashboard:{slug}", "expr": expr} for slug, _, expr in dashboard_exprs]
        Path(args.dashboard_rules).write_text(
            json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}, indent=2) + "\n"
        )
    if args.write:
        NAMES_FILE.write_text(listing)
    elif args.check:
        current = NAMES_FILE.read_text() if NAMES_FILE.exists() else ""
        if current != listing:
            problems.append(
                f"{NAMES_FILE.relative_to(ROOT)} is out of date: "
                "run scripts/list_metric_names.py --write"
            )
    elif not args.dashboard_rules:
        sys.stdout.write(listing)

    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if not problems and (args.check or args.write):
        print(f"metric names OK: {len(names)} names, all from docs/conventions.md")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
