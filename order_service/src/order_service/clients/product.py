"""The product service's internal API, as the order service uses it: reserve and release.

Every call is idempotent on the product side (reserve and release per order id), so every
call is retried with backoff. Answers map to errors the order's client understands:
404 -> `product_not_found` and 409 -> `insufficient_stock`, both with the product service's
details; 409 `reservation_released` (the order id was released before this reserve: it can
take no stock any more) -> 503 `order_expired`; 403 (our secret refused) or anything
unexpected -> 503, like a timeout or a 5xx.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shop_common.clients import ServiceClient
from shop_common.errors import AppError, Conflict, NotFound, ServiceUnavailable

__all__ = [
    "ORDER_EXPIRED",
    "ProductServiceClient",
    "ReleaseResult",
    "ReservedItem",
    "Reservation",
]

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
ORDER_EXPIRED = "The order expired while being placed, try again"


class ReservedItem(BaseModel):
    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int


class Reservation(BaseModel):
    order_id: uuid.UUID
    items: list[ReservedItem]


class ReleaseResult(BaseModel):
    order_id: uuid.UUID
    released: bool


class ProductServiceClient(ServiceClient):
    target = "product"

    async def reserve(
        self, order_id: uuid.UUID, items: Sequence[tuple[uuid.UUID, int]]
    ) -> Reservation:
        """Take the stock of every line, all or nothing; repeating it takes nothing more."""
        body = {
            "order_id": str(order_id),
            "items": [{"product_id": str(pid), "quantity": qty} for pid, qty in items],
        }
        response = await self.post("reserve", "/internal/v1/stock/reserve/", body, idempotent=True)
        return self._parse(response, Reservation)

    async def release(self, order_id: uuid.UUID) -> ReleaseResult:
        """Put back what the order took, once, however often it is called."""
        response = await self.post(
            "release", "/internal/v1/stock/release/", {"order_id": str(order_id)}, idempotent=True
        )
        return self._parse(response, ReleaseResult)

    def _parse(self, response: httpx.Response, model: type[M]) -> M:
        if response.status_code == 404:
            raise NotFound(
                _message(response, "Product not found"),
                code="product_not_found",
                details=_details(response),
            )
        if response.status_code == 409:
            raise _conflict(response)
        if response.status_code != 200:
            raise self.misconfigured(response)
        try:
            return model.model_validate(response.json()["data"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            logger.error("product service sent an unreadable answer: %s", exc)
            raise ServiceUnavailable(
                "The product service sent an unreadable answer",
                code="product_service_unavailable",
            ) from exc


def _conflict(response: httpx.Response) -> AppError:
    if _body(response).get("code") == "reservation_released":
        return ServiceUnavailable(ORDER_EXPIRED, code="order_expired")
    return Conflict(
        _message(response, "Insufficient stock"),
        code="insufficient_stock",
        details=_details(response),
    )


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response, default: str) -> str:
    message = _body(response).get("message")
    return message if isinstance(message, str) and message else default


def _details(response: httpx.Response) -> list[dict[str, Any]]:
    details = _body(response).get("details")
    if not isinstance(details, list):
        return []
    return [entry for entry in details if isinstance(entry, dict)]
