"""The metrics the code declares: the one source of their names, types and labels.

    python -m tools.metrics        # list them

Every service exports the collectors of `shop_common.metrics`; a service's own business
metrics are the collectors of its `<name>_service.metrics` module. This module imports
those modules and reads the prometheus_client collectors they define, then runs each
service's start-up series (`initialise_series` with the service's `SERIES`) so that the
label values created at start-up are known too. docs/conventions.md, the dashboards, the
alert rules and the end-to-end check are all compared with what is found here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from prometheus_client.metrics import MetricWrapperBase

from tools.workspace import services

__all__ = ["COMMON_MODULE", "Metric", "declared_metrics", "series_names"]

COMMON_MODULE = "shop_common.metrics"
# Series a histogram or summary is queried by, with the label each adds.
SUFFIXES = {
    "histogram": {"_bucket": ("le",), "_sum": (), "_count": ()},
    "summary": {"": ("quantile",), "_sum": (), "_count": ()},
}


@dataclass(frozen=True)
class Metric:
    """One declared metric, named as PromQL and docs/conventions.md name it."""

    name: str  # counters with their _total, histograms by their base name
    family: str  # prometheus_client's family name (a counter's without _total)
    kind: str  # counter, gauge, histogram, summary
    labels: tuple[str, ...]  # `service` first
    documentation: str
    module: str
    exporters: frozenset[str]  # the services that export it
    values: Mapping[str, frozenset[str]]  # label -> the values created at start-up

    def series(self) -> dict[str, tuple[str, ...]]:
        """The series names PromQL can select, each with the labels it adds."""
        suffixes = SUFFIXES.get(self.kind, {"": ()})
        return {self.name + suffix: extra for suffix, extra in suffixes.items()}


def _collectors(module: ModuleType) -> list[MetricWrapperBase]:
    return [value for value in vars(module).values() if isinstance(value, MetricWrapperBase)]


def _describe(collector: MetricWrapperBase, module: str, exporters: frozenset[str]) -> Metric:
    family = next(iter(collector.describe()))
    name = family.name + "_total" if family.type == "counter" else family.name
    values: defaultdict[str, set[str]] = defaultdict(set)
    for sample_family in collector.collect():
        for sample in sample_family.samples:
            for label, value in sample.labels.items():
                if label in collector._labelnames and label != "service":
                    values[label].add(value)
    return Metric(
        name=name,
        family=family.name,
        kind=family.type,
        labels=tuple(collector._labelnames),
        documentation=family.documentation,
        module=module,
        exporters=exporters,
        values={label: frozenset(found) for label, found in values.items()},
    )


def _service_modules() -> dict[str, ModuleType]:
    modules = {}
    for service in services():
        name = f"{service.directory}.metrics"
        if importlib.util.find_spec(name) is not None:
            modules[service.name] = importlib.import_module(name)
    return modules


@cache
def declared_metrics() -> dict[str, Metric]:
    """Every declared metric by its PromQL name."""
    common = importlib.import_module(COMMON_MODULE)
    own = _service_modules()
    for service in services():
        series = getattr(own.get(service.name), "SERIES", ())
        common.initialise_series(service.name, series)
    everyone = frozenset(s.name for s in services())
    found = [(c, COMMON_MODULE, everyone) for c in _collectors(common)]
    shared = {id(c) for c, _, _ in found}
    for owner, module in own.items():
        found += [
            (c, module.__name__, frozenset({owner}))
            for c in _collectors(module)
            if id(c) not in shared
        ]
    metrics = [_describe(c, module, exporters) for c, module, exporters in found]
    return {metric.name: metric for metric in sorted(metrics, key=lambda m: m.name)}


def series_names() -> dict[str, tuple[Metric, tuple[str, ...]]]:
    """Every selectable series name -> (its metric, the labels the series adds)."""
    return {
        series: (metric, extra)
        for metric in declared_metrics().values()
        for series, extra in metric.series().items()
    }


def main() -> int:
    for metric in declared_metrics().values():
        exporters = (
            "every service"
            if len(metric.exporters) == len(services())
            else ", ".join(sorted(metric.exporters))
        )
        labels = ", ".join(
            label
            + (f" ({', '.join(sorted(metric.values[label]))})" if label in metric.values else "")
            for label in metric.labels
        )
        print(f"{metric.name}  {metric.kind}  [{labels}]  {exporters}  ({metric.module})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
