#!/usr/bin/env python3
"""Source of the Grafana dashboards in monitoring/grafana/dashboards/.

Grafana loads the JSON files (see provisioning/dashboards/dashboards.yml);
they are generated from the panel lists below, so that every panel has the
same datasource, layout and legend conventions. Edit this file, then:

    python3 monitoring/grafana/generate_dashboards.py          # rewrite the JSON files
    python3 monitoring/grafana/generate_dashboards.py --check  # fail if they are stale or invalid

Metric names and labels: docs/conventions.md. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICES = ["user", "product", "order"]

JSON = dict[str, Any]

# Shorthands used in the expressions below.
RATE = "$__rate_interval"
SVC = 'service=~"$service"'


# --------------------------------------------------------------------------- building blocks


def target(expr: str, legend: str) -> JSON:
    return {"expr": expr, "legendFormat": legend}


def timeseries(
    title: str,
    description: str,
    targets: list[JSON],
    unit: str,
    *,
    w: int = 12,
    h: int = 8,
    max_value: float | None = None,
    steps: bool = False,
    dashed: str | None = None,
) -> JSON:
    """A line chart; `dashed` is a regex of series names drawn dashed (limits)."""
    defaults: JSON = {
        "unit": unit,
        "min": 0,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "lineInterpolation": "stepAfter" if steps else "linear",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "none", "group": "A"},
        },
    }
    if max_value is not None:
        defaults["max"] = max_value
    overrides = []
    if dashed:
        overrides.append(
            {
                "matcher": {"id": "byRegexp", "options": dashed},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.fillOpacity", "value": 0},
                ],
            }
        )
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": {
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def stat(
    title: str,
    description: str,
    targets: list[JSON],
    unit: str,
    *,
    thresholds: list[tuple[float | None, str]] | None = None,
    mappings: list[JSON] | None = None,
    w: int = 4,
    h: int = 4,
    decimals: int | None = None,
) -> JSON:
    """A single-value panel; thresholds are (from value, colour), the first from None."""
    steps = thresholds or [(None, "green")]
    defaults: JSON = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": colour, "value": value} for value, colour in steps],
        },
        "mappings": mappings or [],
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "showPercentChange": False,
        },
        "targets": targets,
    }


def service_variable() -> JSON:
    """The fixed set of services of docs/conventions.md, several or all selectable."""
    options = [{"text": "All", "value": "$__all", "selected": True}]
    options += [{"text": s, "value": s, "selected": False} for s in SERVICES]
    return {
        "name": "service",
        "label": "Service",
        "type": "custom",
        "query": ",".join(SERVICES),
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": options,
        "hide": 0,
    }


def route_variable() -> JSON:
    query = f"label_values(http_requests_total{{{SVC}}}, route)"
    return {
        "name": "route",
        "label": "Route",
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def layout(panels: list[JSON]) -> list[JSON]:
    """Give panels ids, positions (left to right, wrapping at 24 columns) and datasources."""
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        pos = panel["gridPos"]
        if x + pos["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        panel["gridPos"] = {"h": pos["h"], "w": pos["w"], "x": x, "y": y}
        x += pos["w"]
        row_height = max(row_height, pos["h"])
        panel["id"] = panel_id
        panel["datasource"] = DATASOURCE
        for index, tgt in enumerate(panel["targets"]):
            ref = chr(ord("A") + index)
            tgt.update(
                {"datasource": DATASOURCE, "refId": ref, "range": True, "editorMode": "code"}
            )
        # stable key order: identity first, then the rest as built
        panel_keys = ["id", "type", "title", "description", "datasource", "gridPos"]
        ordered = {k: panel[k] for k in panel_keys} | {
            k: v for k, v in panel.items() if k not in panel_keys
        }
        panel.clear()
        panel.update(ordered)
    return panels


def dashboard(
    uid: str, title: str, description: str, panels: list[JSON], variables: list[JSON]
) -> JSON:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["shop"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "links": [
            {
                "type": "dashboards",
                "title": "Shop dashboards",
                "tags": ["shop"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": variables},
        "panels": layout(panels),
    }


def quantiles(metric: str, by: str, selector: str, legend: str) -> list[JSON]:
    """p50, p95 and p99 of a histogram, grouped by `by` (le is added)."""
    buckets = f"rate({metric}_bucket{{{selector}}}[{RATE}])"
    return [
        target(
            f"histogram_quantile({q}, sum by ({by}, le) ({buckets}))",
            f"p{round(q * 100)} {legend}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


RATIO_THRESHOLDS = [(None, "green"), (0.01, "yellow"), (0.05, "red")]
LATENCY_THRESHOLDS = [(None, "green"), (0.25, "yellow"), (0.5, "red")]
UP_DOWN = [
    {
        "type": "value",
        "options": {
            "0": {"text": "DOWN", "color": "red", "index": 0},
            "1": {"text": "UP", "color": "green", "index": 1},
        },
    }
]


# --------------------------------------------------------------------------- dashboards


def service_overview() -> JSON:
    sel = f'{SVC}, route=~"$route"'
    requests = f"http_requests_total{{{sel}}}"
    errors_5xx = f'http_requests_total{{{sel}, status=~"5.."}}'
    errors_4xx = f'http_requests_total{{{sel}, status=~"4.."}}'
    latency_buckets = f"rate(http_request_duration_seconds_bucket{{{sel}}}[{RATE}])"

    def ratio(num: str, by: str = "") -> str:
        group = f" by ({by})" if by else ""
        return f"sum{group} (rate({num}[{RATE}])) / sum{group} (rate({requests}[{RATE}]))"

    panels = [
        stat(
            "Instances up",
            "Scraped instances of each service that answer /metrics.",
            [target('sum by (job) (up{job=~"($service)-service"})', "{{job}}")],
            "none",
            thresholds=[(None, "red"), (1, "green")],
        ),
        stat(
            "Request rate",
            "All requests of the selected services.",
            [target(f"sum (rate({requests}[{RATE}]))", "requests/s")],
            "reqps",
        ),
        stat(
            "5xx ratio",
            "Share of requests answered with a server error (alert above 5%).",
            [target(ratio(errors_5xx), "5xx")],
            "percentunit",
            thresholds=RATIO_THRESHOLDS,
        ),
        stat(
            "4xx ratio",
            "Share of requests answered with a client error (validation, auth, 404, 409, 429).",
            [target(ratio(errors_4xx), "4xx")],
            "percentunit",
            thresholds=[(None, "green"), (0.1, "yellow"), (0.25, "red")],
        ),
        stat(
            "p95 latency",
            "95th percentile of request duration (alert above 500ms).",
            [
                target(
                    f"histogram_quantile(0.95, sum by (le) ({latency_buckets}))",
                    "p95",
                )
            ],
            "s",
            thresholds=LATENCY_THRESHOLDS,
        ),
        stat(
            "In progress",
            "Requests being served right now.",
            [target(f"sum (http_requests_in_progress{{{SVC}}})", "in progress")],
            "none",
            decimals=0,
        ),
        timeseries(
            "Request rate by service",
            "Requests per second.",
            [target(f"sum by (service) (rate({requests}[{RATE}]))", "{{service}}")],
            "reqps",
        ),
        timeseries(
            "Responses by status",
            "Requests per second by service and HTTP status.",
            [
                target(
                    f"sum by (service, status) (rate({requests}[{RATE}]))", "{{service}} {{status}}"
                )
            ],
            "reqps",
        ),
        timeseries(
            "Error ratio by service",
            "Share of 5xx and 4xx responses.",
            [
                target(ratio(errors_5xx, "service"), "{{service}} 5xx"),
                target(ratio(errors_4xx, "service"), "{{service}} 4xx"),
            ],
            "percentunit",
        ),
        timeseries(
            "5xx ratio by route",
            "Share of 5xx responses per route template.",
            [
                target(
                    ratio(errors_5xx, "service, method, route"), "{{service}} {{method}} {{route}}"
                )
            ],
            "percentunit",
        ),
        timeseries(
            "Latency by service (p50 / p95 / p99)",
            "Request duration quantiles.",
            quantiles("http_request_duration_seconds", "service", sel, "{{service}}"),
            "s",
        ),
        timeseries(
            "Latency by route (p50 / p95 / p99)",
            "Request duration quantiles per route template.",
            quantiles(
                "http_request_duration_seconds",
                "service, method, route",
                sel,
                "{{service}} {{method}} {{route}}",
            ),
            "s",
        ),
        timeseries(
            "Request rate by route",
            "Requests per second per route template.",
            [
                target(
                    f"sum by (service, method, route) (rate({requests}[{RATE}]))",
                    "{{service}} {{method}} {{route}}",
                )
            ],
            "reqps",
        ),
        timeseries(
            "Requests in progress",
            "Requests being served, per service.",
            [target(f"sum by (service) (http_requests_in_progress{{{SVC}}})", "{{service}}")],
            "none",
        ),
    ]
    return dashboard(
        "shop-service-overview",
        "Shop / Service overview",
        "Traffic, errors and latency of the user, product and order services.",
        panels,
        [service_variable(), route_variable()],
    )


def business() -> JSON:
    def total(metric: str, matcher: str) -> str:
        return f"sum (increase({metric}{{{SVC}, {matcher}}}[$__range]))"

    def stock_rate(matcher: str) -> str:
        return f"sum (rate(stock_reservations_total{{{SVC}, {matcher}}}[{RATE}]))"

    panels = [
        stat(
            "Orders confirmed",
            "Orders confirmed in the selected time range.",
            [target(total("orders_total", 'status="confirmed"'), "confirmed")],
            "none",
            decimals=0,
        ),
        stat(
            "Orders failed",
            "Orders refused by the product service (stock, unknown product) in the time range.",
            [target(total("orders_total", 'status="failed"'), "failed")],
            "none",
            decimals=0,
            thresholds=[(None, "green"), (1, "yellow")],
        ),
        stat(
            "Order success ratio",
            "Confirmed / (confirmed + failed) in the time range.",
            [
                target(
                    total("orders_total", 'status="confirmed"')
                    + " / "
                    + total("orders_total", 'status=~"confirmed|failed"'),
                    "success",
                )
            ],
            "percentunit",
            thresholds=[(None, "red"), (0.8, "yellow"), (0.95, "green")],
        ),
        stat(
            "Stock conflicts",
            "Reservations refused for insufficient stock in the time range.",
            [
                target(
                    total("stock_reservations_total", 'outcome="insufficient_stock"'), "conflicts"
                )
            ],
            "none",
            decimals=0,
            thresholds=[(None, "green"), (1, "yellow")],
        ),
        stat(
            "Orders cancelled",
            "Orders deleted by their users in the time range.",
            [target(total("orders_total", 'status="cancelled"'), "cancelled")],
            "none",
            decimals=0,
        ),
        stat(
            "Reconciler errors",
            "Stock releases of stale pending orders that failed in the time range.",
            [target(total("orders_reconciled_total", 'outcome="error"'), "errors")],
            "none",
            decimals=0,
            thresholds=[(None, "green"), (1, "red")],
        ),
        timeseries(
            "Orders by status",
            "Orders per minute by the status they reached.",
            [target(f"sum by (status) (rate(orders_total{{{SVC}}}[{RATE}])) * 60", "{{status}}")],
            "opm",
        ),
        timeseries(
            "Stock reservations by outcome",
            "Reserve and release operations per minute.",
            [
                target(
                    f"sum by (outcome) (rate(stock_reservations_total{{{SVC}}}[{RATE}])) * 60",
                    "{{outcome}}",
                )
            ],
            "opm",
        ),
        timeseries(
            "Stock conflicts",
            "Reservations refused per minute (alert above 5/min for 10m).",
            [
                target(
                    stock_rate('outcome="insufficient_stock"') + " * 60",
                    "insufficient stock",
                ),
                target(
                    stock_rate('outcome="not_found"') + " * 60",
                    "unknown product",
                ),
            ],
            "opm",
        ),
        timeseries(
            "Stock conflict ratio",
            "Share of reservation attempts refused for insufficient stock.",
            [
                target(
                    stock_rate('outcome="insufficient_stock"')
                    + " / "
                    + stock_rate('outcome=~"reserved|insufficient_stock"'),
                    "insufficient stock",
                )
            ],
            "percentunit",
            max_value=1,
        ),
        timeseries(
            "Reconciler",
            "Stock releases retried for stale pending orders, per minute, by outcome.",
            [
                target(
                    f"sum by (outcome) (rate(orders_reconciled_total{{{SVC}}}[{RATE}])) * 60",
                    "{{outcome}}",
                )
            ],
            "opm",
            w=24,
        ),
    ]
    return dashboard(
        "shop-business",
        "Shop / Business",
        "Orders, stock reservations and the order reconciler.",
        panels,
        [service_variable()],
    )


def dependencies() -> JSON:
    calls = f"internal_client_requests_total{{{SVC}}}"
    failed_calls = (
        f'internal_client_requests_total{{{SVC}, outcome=~"server_error|timeout|unavailable"}}'
    )
    cache = f"cache_requests_total{{{SVC}}}"
    cache_hits = f'cache_requests_total{{{SVC}, result="hit"}}'
    panels = [
        stat(
            "Dependencies (readiness)",
            "Database and Redis as seen by GET /ready of each service.",
            [
                target(
                    f"min by (service, dependency) (dependency_up{{{SVC}}})",
                    "{{service}} {{dependency}}",
                )
            ],
            "none",
            thresholds=[(None, "red"), (1, "green")],
            mappings=UP_DOWN,
            w=24,
        ),
        timeseries(
            "Internal calls by target and outcome",
            "Service-to-service calls per second.",
            [
                target(
                    f"sum by (service, target, outcome) (rate({calls}[{RATE}]))",
                    "{{service}} -> {{target}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        timeseries(
            "Internal call failure ratio",
            "Server errors, timeouts and unavailability per target and "
            "operation (client errors are business answers and left out).",
            [
                target(
                    f"sum by (service, target, operation) (rate({failed_calls}[{RATE}])) / "
                    f"sum by (service, target, operation) (rate({calls}[{RATE}]))",
                    "{{service}} -> {{target}} {{operation}}",
                )
            ],
            "percentunit",
        ),
        timeseries(
            "Internal call latency (p50 / p95 / p99)",
            "Duration of service-to-service calls.",
            quantiles(
                "internal_client_request_duration_seconds",
                "service, target, operation",
                SVC,
                "{{service}} -> {{target}} {{operation}}",
            ),
            "s",
            w=24,
        ),
        timeseries(
            "Cache hit ratio",
            "Hits / all lookups per cache.",
            [
                target(
                    f"sum by (service, cache) (rate({cache_hits}[{RATE}])) / "
                    f"sum by (service, cache) (rate({cache}[{RATE}]))",
                    "{{service}} {{cache}}",
                )
            ],
            "percentunit",
            max_value=1,
        ),
        timeseries(
            "Cache lookups by result",
            "Cache lookups per second: hit, miss, error (Redis failing).",
            [
                target(
                    f"sum by (service, cache, result) (rate({cache}[{RATE}]))",
                    "{{service}} {{cache}} {{result}}",
                )
            ],
            "reqps",
        ),
        timeseries(
            "Rate-limit rejections by bucket",
            "Requests rejected with 429 per second.",
            [
                target(
                    f"sum by (service, bucket) (rate(rate_limit_rejected_total{{{SVC}}}[{RATE}]))",
                    "{{service}} {{bucket}}",
                )
            ],
            "reqps",
        ),
        timeseries(
            "Rate-limiter backend errors",
            "Redis errors of the rate limiter; requests pass unlimited (fail-open).",
            [
                target(
                    f"sum by (service) (rate(rate_limit_backend_errors_total{{{SVC}}}[{RATE}]))",
                    "{{service}}",
                )
            ],
            "reqps",
        ),
        timeseries(
            "DB pool in use vs max",
            "Database connections checked out, against pool size + overflow.",
            [
                target(f"sum by (service) (db_pool_in_use{{{SVC}}})", "{{service}} in use"),
                target(f"sum by (service) (db_pool_max{{{SVC}}})", "{{service}} max"),
            ],
            "none",
            dashed=".* max",
        ),
        timeseries(
            "Dependency status",
            "1 = up, 0 = failing, as last reported by GET /ready.",
            [
                target(
                    f"min by (service, dependency) (dependency_up{{{SVC}}})",
                    "{{service}} {{dependency}}",
                )
            ],
            "none",
            max_value=1,
            steps=True,
        ),
    ]
    return dashboard(
        "shop-dependencies",
        "Shop / Dependencies",
        "Internal calls, caches, rate limiting, database pools and readiness.",
        panels,
        [service_variable()],
    )


DASHBOARDS = {
    "service-overview.json": service_overview,
    "business.json": business,
    "dependencies.json": dependencies,
}


# --------------------------------------------------------------------------- checks


def lint(name: str, board: JSON) -> list[str]:
    """Structural checks on one dashboard; returns the problems found."""
    problems = []
    if board.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(f"{name}: schemaVersion is not {SCHEMA_VERSION}")
    variables = {v.get("name") for v in board.get("templating", {}).get("list", [])}
    if "service" not in variables:
        problems.append(f"{name}: no `service` template variable")
    ids = [p.get("id") for p in board.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append(f"{name}: duplicate panel ids")
    for panel in board.get("panels", []):
        where = f"{name}: panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("type") not in ("timeseries", "stat"):
            problems.append(f"{where}: type {panel.get('type')!r}")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{where}: datasource is not uid prometheus")
        pos = panel.get("gridPos", {})
        if not (pos.get("x", -1) >= 0 and pos.get("x", 0) + pos.get("w", 99) <= 24):
            problems.append(f"{where}: gridPos outside 24 columns")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)):
            problems.append(f"{where}: duplicate refIds")
        for tgt in targets:
            if not tgt.get("expr") or tgt.get("datasource") != DATASOURCE:
                problems.append(
                    f"{where}: target {tgt.get('refId')} without expr or prometheus datasource"
                )
    return problems


def render(board: JSON) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that the JSON files are current and valid"
    )
    args = parser.parse_args()

    problems: list[str] = []
    for name, build in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(build())
        if args.check:
            if not path.exists():
                problems.append(f"{name}: missing")
                continue
            try:
                committed = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                problems.append(f"{name}: invalid JSON: {exc}")
                continue
            problems += lint(name, committed)
            if path.read_text() != text:
                problems.append(
                    f"{name}: differs from generate_dashboards.py output (run it without --check)"
                )
        else:
            problems += lint(name, json.loads(text))
            path.write_text(text)
            print(f"wrote {path}")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if args.check and not problems:
        print(f"dashboards OK: {', '.join(DASHBOARDS)} are current and valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
