"""Check the running services against the declared metrics (tools.metrics).

    python -m tools.check_exported_metrics URL [URL ...] [--prometheus URL]

Each URL is a service's base URL. Every metric a dashboard or an alert uses must be
exported by some service, every service must export its own business metrics (created at
start-up), and no service may export a metric the code does not declare. With
--prometheus, that Prometheus must also scrape every service target as up. Run by the
end-to-end step (scripts/e2e_native.sh) after the Postman collection.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tools import promql
from tools.metrics import Metric, declared_metrics

__all__ = ["main"]


def scrape(base_url: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The `service` label values and the (family, type) pairs of base_url/metrics."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    labelled = {s.labels["service"] for f in families for s in f.samples if "service" in s.labels}
    ours = {(f.name, f.type) for f in families if any("service" in s.labels for s in f.samples)}
    return labelled, ours


def used_metrics() -> set[str]:
    """The declared metrics the alert rules and dashboards use."""
    dashboards, _ = promql.dashboard_expressions()
    used, _ = promql.check_expressions(promql.alert_expressions() + dashboards, {})
    return used


def targets_up(prometheus: str, expected: int, timeout: float = 30.0) -> list[str]:
    """Wait until Prometheus reports `expected` service targets up; return the problems."""
    deadline = time.monotonic() + timeout
    problems: list[str] = ["no scrape yet"]
    while time.monotonic() < deadline and problems:
        url = f"{prometheus}/api/v1/query?query=up"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            results = json.load(response)["data"]["result"]
        targets = [r for r in results if r["metric"].get("job", "").endswith("-service")]
        problems = [f"{r['metric']['job']} is down" for r in targets if r["value"][1] != "1"]
        if len(targets) < expected:
            problems.append(f"{len(targets)} of {expected} service targets scraped")
        if problems:
            time.sleep(1)
    return problems


def service_problems(url: str, declared: dict[str, Metric]) -> tuple[set[str], list[str]]:
    """The declared metrics `url` exports, and what is wrong with its /metrics."""
    try:
        labelled, families = scrape(url)
    except (OSError, ValueError) as exc:
        return set(), [f"{url}/metrics: {exc}"]
    by_family = {(m.family, m.kind): m for m in declared.values()}
    stems = {m.family for m in declared.values()}
    if len(labelled) != 1:
        return set(), [f"{url}: series labelled service={sorted(labelled)}, expected one service"]
    service = next(iter(labelled))
    exported = {by_family[f].name for f in families if f in by_family}
    problems = [
        f"{service} exports {name} ({kind}), which no code declares"
        for name, kind in sorted(families - set(by_family))
        if name.removesuffix("_created") not in stems
    ]
    problems += [
        f"{service} does not export its own {m.name} ({m.module})"
        for m in declared.values()
        if m.exporters == {service} and m.name not in exported
    ]
    return exported, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="+", metavar="URL", help="a service's base URL")
    parser.add_argument("--prometheus", metavar="URL")
    args = parser.parse_args()
    declared = declared_metrics()
    wanted = used_metrics()
    exported: set[str] = set()
    problems: list[str] = []
    for url in args.urls:
        found, wrong = service_problems(url, declared)
        exported |= found
        problems += wrong
    problems += [
        f"metric used by dashboards/alerts but not exported: {n}" for n in sorted(wanted - exported)
    ]
    if args.prometheus:
        problems += targets_up(args.prometheus, expected=len(args.urls))
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(
            f"ok: all {len(wanted)} dashboard/alert metrics are exported, each service exports "
            "its own and nothing undeclared"
            + ("; Prometheus scrapes every service as up" if args.prometheus else "")
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
