"""The metrics table of docs/conventions.md, read and compared with the declared metrics.

The table documents what the code declares (tools.metrics): a row per metric with its
type, its labels and the module that declares it. Label values are listed in brackets: a
bracket holding only backticked values enumerates every value the label takes (and must
agree with the values the code creates at start-up); anything else in it is prose and
leaves the label free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tools.metrics import Metric
from tools.workspace import ROOT, services

__all__ = ["DocumentedMetric", "documented_metrics", "problems"]

CONVENTIONS = ROOT / "docs" / "conventions.md"
ROW = re.compile(r"^\|\s*`([a-zA-Z_:][\w:]*)`\s*\|\s*(\w+)\s*\|(.*)\|(.*)\|\s*$")
LABEL = re.compile(r"`([a-zA-Z_]\w*)`\s*(?:\(([^()]*)\))?")
SERVICES_LINE = re.compile(r"carries a `service` label:([^\n]*)")


@dataclass(frozen=True)
class DocumentedMetric:
    name: str
    kind: str
    labels: dict[str, frozenset[str] | None]  # label (besides service) -> values, None = free
    module: str  # where it is declared


def _labels(cell: str) -> dict[str, frozenset[str] | None]:
    labels: dict[str, frozenset[str] | None] = {}
    for label, details in LABEL.findall(cell):
        values = re.findall(r"`([^`]*)`", details)
        prose = re.sub(r"`[^`]*`|[\s,]", "", details)
        labels[label] = frozenset(values) if values and not prose else None
    return labels


def documented_metrics() -> tuple[dict[str, DocumentedMetric], frozenset[str] | None]:
    """The table's rows by metric name, and the services the heading says label every series."""
    text = CONVENTIONS.read_text(encoding="utf-8")
    heading = SERVICES_LINE.search(text)
    labelled = frozenset(re.findall(r"`([\w-]+)`", heading[1])) if heading else None
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            name, kind, labels, module = match.groups()
            rows[name] = DocumentedMetric(name, kind, _labels(labels), module.strip().strip("`"))
    return rows, labelled


def _metric_problems(metric: Metric, row: DocumentedMetric) -> Iterator[str]:
    where = f"docs/conventions.md {metric.name}"
    if row.kind != metric.kind:
        yield f"{where}: type {row.kind}, but {metric.module} declares a {metric.kind}"
    declared = [label for label in metric.labels if label != "service"]
    if list(row.labels) != declared:
        yield f"{where}: labels {list(row.labels)}, but {metric.module} declares {declared}"
    if row.module != metric.module:
        yield f"{where}: declared in {row.module}, but the code declares it in {metric.module}"
    for label, created in metric.values.items():
        documented = row.labels.get(label)
        if documented is not None and documented != created:
            yield (
                f"{where}: {label} values {sorted(documented)}, but start-up creates "
                f"{sorted(created)}"
            )
        elif documented is None and label in row.labels:
            yield f"{where}: {label} takes the values {sorted(created)}: list them in backticks"


def problems(declared: dict[str, Metric]) -> list[str]:
    """Every difference between docs/conventions.md and the declared metrics."""
    rows, labelled = documented_metrics()
    found = []
    if not rows:
        return [f"no metrics table found in {CONVENTIONS.relative_to(ROOT)}"]
    if labelled != frozenset(s.name for s in services()):
        found.append("docs/conventions.md: the `service` label's values must be the services")
    for name in sorted(set(declared) - set(rows)):
        found.append(f"docs/conventions.md: {name} ({declared[name].module}) is not documented")
    for name in sorted(set(rows) - set(declared)):
        found.append(f"docs/conventions.md: {name} is documented but no code declares it")
    for name in sorted(set(rows) & set(declared)):
        found += _metric_problems(declared[name], rows[name])
    for metric in declared.values():
        if metric.labels[:1] != ("service",):
            found.append(f"{metric.module}: {metric.name} must be labelled `service` first")
    return found
