"""The product service's business metrics: stock reservation requests by outcome."""

from typing import Literal, get_args

from prometheus_client import Counter

from product_service.config import Settings
from shop_common.metrics import DomainSeries

__all__ = ["SERIES", "STOCK_RESERVATIONS", "ReservationOutcome", "count_reservation"]

SERVICE = Settings.model_fields["service_name"].default
ReservationOutcome = Literal["reserved", "insufficient_stock", "not_found", "replayed", "released"]
STOCK_RESERVATIONS = Counter(
    "stock_reservations_total", "Stock reservation requests by outcome", ["service", "outcome"]
)
SERIES: list[DomainSeries] = [
    (STOCK_RESERVATIONS, get_args(ReservationOutcome)),
]


def count_reservation(outcome: ReservationOutcome) -> None:
    STOCK_RESERVATIONS.labels(SERVICE, outcome).inc()
