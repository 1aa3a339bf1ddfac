"""Prometheus metrics shared by every service, and the record of each HTTP request.

Every series carries a `service` label. Routes are labelled by their template, never by the
raw path. When `PROMETHEUS_MULTIPROC_DIR` is set (several uvicorn workers) `/metrics`
aggregates the files every worker writes.
"""

import logging
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

__all__ = [
    "CACHE_REQUESTS",
    "DB_POOL_IN_USE",
    "DB_POOL_MAX",
    "DEPENDENCY_UP",
    "HTTP_IN_PROGRESS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "INTERNAL_CLIENT_DURATION",
    "INTERNAL_CLIENT_REQUESTS",
    "KNOWN_METHODS",
    "RATE_LIMIT_BACKEND_ERRORS",
    "RATE_LIMIT_REJECTED",
    "REDIS_FAIL_OPEN",
    "REDIS_USES",
    "DomainSeries",
    "HttpMetrics",
    "initialise_series",
    "method_label",
    "metrics_response",
    "route_label",
]

access_log = logging.getLogger("shop.access")
# The methods a request is labelled by; any other is `other`. A server that passes unknown
# methods on must not let a client add series (and multiprocess files) at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_PROGRESS = Gauge(
    "http_requests_in_progress",
    "HTTP requests being served",
    ["service"],
    multiprocess_mode="livesum",
)
RATE_LIMIT_REJECTED = Counter(
    "rate_limit_rejected_total", "Requests refused by a rate limit", ["service", "bucket"]
)
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "rate_limit_backend_errors_total",
    "Rate-limit checks skipped because Redis failed (request let through)",
    ["service"],
)
REDIS_FAIL_OPEN = Counter(
    "redis_fail_open_total",
    "Redis failed and the request went on without it: a rate limit or the logout denylist "
    "skipped, or the per-account login limit kept in process",
    ["service", "use"],
)
CACHE_REQUESTS = Counter("cache_requests_total", "Cache look-ups", ["service", "cache", "result"])
INTERNAL_CLIENT_REQUESTS = Counter(
    "internal_client_requests_total",
    "Calls to other services",
    ["service", "target", "operation", "outcome"],
)
INTERNAL_CLIENT_DURATION = Histogram(
    "internal_client_request_duration_seconds",
    "Latency of calls to other services",
    ["service", "target", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DB_POOL_IN_USE = Gauge(
    "db_pool_in_use",
    "Database connections checked out",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "db_pool_max", "Database pool size plus overflow", ["service"], multiprocess_mode="livesum"
)
DEPENDENCY_UP = Gauge(
    "dependency_up",
    "1 when the dependency answered the last readiness check",
    ["service", "dependency"],
    multiprocess_mode="livemostrecent",
)
RATE_LIMIT_BUCKETS = ("default", "auth", "login_account", "write")
# What Redis is used for that can go on without it (`redis_fail_open_total{use}`).
REDIS_USES = ("rate_limit", "login_account", "denylist")


# A service's own business counter (labelled `service` first, then one more label) and the
# values of that label it can take: created at zero from start-up.
DomainSeries = tuple[Counter, Iterable[str]]


def initialise_series(service: str, domain_series: Iterable[DomainSeries] = ()) -> None:
    """Create this process's series at zero so every metric is exported from the start
    (in multiprocess mode a series exists only once a worker has touched it)."""
    HTTP_IN_PROGRESS.labels(service)
    RATE_LIMIT_BACKEND_ERRORS.labels(service)
    DB_POOL_IN_USE.labels(service)
    DB_POOL_MAX.labels(service)
    for bucket in RATE_LIMIT_BUCKETS:
        RATE_LIMIT_REJECTED.labels(service, bucket)
    for use in REDIS_USES:
        REDIS_FAIL_OPEN.labels(service, use)
    for metric, values in domain_series:
        for value in values:
            metric.labels(service, value)


def route_label(scope: Scope) -> str:
    """The matched route's template without its trailing slash, or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    return path.rstrip("/") or "/"


class HttpMetrics:
    """One service's HTTP series and its access log line, written once per request by the
    edge (`shop_common.edge`). Label children are bound once per label set and kept, so a
    request costs a dictionary look-up, not a `labels()` call per series."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.in_progress = HTTP_IN_PROGRESS.labels(service)
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, path: str, route: str, status: int, elapsed: float) -> None:
        method = method_label(method)
        requests = self._requests.get((method, route, status))
        if requests is None:
            requests = HTTP_REQUESTS.labels(self.service, method, route, str(status))
            self._requests[(method, route, status)] = requests
        durations = self._durations.get((method, route))
        if durations is None:
            durations = HTTP_REQUEST_DURATION.labels(self.service, method, route)
            self._durations[(method, route)] = durations
        requests.inc()
        durations.observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(method, path, route, status, elapsed * 1000)


def method_label(method: str) -> str:
    """`method` when it is one of the closed set of known methods, else `other`."""
    return method if method in KNOWN_METHODS else "other"


def _log_access(method: str, path: str, route: str, status: int, ms: float) -> None:
    """The request's one access line. Built with `makeRecord` and handed to `handle`, which
    is what `info()` does less the search of the caller's frame, a line the JSON format
    never prints."""
    fields = {"method": method, "route": route, "status": status, "duration_ms": round(ms, 2)}
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1fms",
        (method, path, status, ms),
        None,
        extra={"fields": fields},
    )
    access_log.handle(record)


def metrics_response(_: Request) -> Response:
    """Render the registry; in multiprocess mode aggregate every worker's files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, media_type=CONTENT_TYPE_LATEST)
