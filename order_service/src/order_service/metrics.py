"""The order service's business metrics: orders by the status they reach, reconciler work."""

from prometheus_client import Counter

from order_service.config import Settings
from order_service.models import OrderStatus
from shop_common.metrics import DomainSeries

__all__ = ["ORDERS", "ORDERS_RECONCILED", "SERIES", "count_order", "count_reconciled"]

SERVICE = Settings.model_fields["service_name"].default
ORDERS = Counter("orders_total", "Orders by the status they reached", ["service", "status"])
ORDERS_RECONCILED = Counter(
    "orders_reconciled_total",
    "Releases the reconciler made for unfinished orders",
    ["service", "outcome"],
)
RECONCILE_OUTCOMES = ("released", "error")
SERIES: list[DomainSeries] = [
    (ORDERS, [status.value for status in OrderStatus]),
    (ORDERS_RECONCILED, RECONCILE_OUTCOMES),
]


def count_order(status: OrderStatus) -> None:
    ORDERS.labels(SERVICE, status.value).inc()


def count_reconciled(outcome: str) -> None:
    ORDERS_RECONCILED.labels(SERVICE, outcome).inc()
