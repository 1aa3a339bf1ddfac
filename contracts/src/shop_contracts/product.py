"""The product service's internal contract: product details, and stock reserve and release.

Routes (docs/api.md): `POST /internal/v1/product-details/` (`ProductDetailsRequest` ->
`{"data": ProductRead}`), `POST /internal/v1/stock/reserve/` (`ReserveRequest` ->
`{"data": ReservationRead}`, 404 unknown product, 409 `insufficient_stock` or
`reservation_released`) and `POST /internal/v1/stock/release/` (`ReleaseRequest` ->
`{"data": ReleaseResult}`).

`ProductServiceClient` is how the order service calls the stock routes. Both are idempotent
per order id on the product side, so both are retried with backoff. Answers map to errors
the order's client understands: 404 -> `product_not_found` and 409 -> `insufficient_stock`,
both with the product service's details; 409 `reservation_released` (the order id was
released before this reserve: it can take no stock any more) -> 503 `order_expired`; 403
(our secret refused) or anything unexpected -> 503, like a timeout or a 5xx.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field

from shop_common.clients import ServiceClient, ServiceResponse
from shop_common.errors import (
    AppError,
    Conflict,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from shop_common.schemas import InputModel, WholeNumber

__all__ = [
    "MAX_RESERVE_ITEMS",
    "MAX_STOCK",
    "ORDER_EXPIRED",
    "ProductDetailsRequest",
    "ProductRead",
    "ProductServiceClient",
    "ReleaseRequest",
    "ReleaseResult",
    "ReservationRead",
    "ReserveItem",
    "ReserveRequest",
    "ReservedItem",
]

M = TypeVar("M", bound=BaseModel)
RESERVE_PATH = "/internal/v1/stock/reserve/"
RELEASE_PATH = "/internal/v1/stock/release/"
ORDER_EXPIRED = "The order expired while being placed, try again"
MAX_STOCK = 1_000_000_000
MAX_RESERVE_ITEMS = 50


class ProductRead(BaseModel):
    """A product as every route gives it, public and internal."""

    id: uuid.UUID
    creator_id: uuid.UUID
    name: str
    description: str
    price: int
    stock: int
    created_at: datetime
    modified_at: datetime


class ProductDetailsRequest(InputModel):
    id: uuid.UUID


class ReserveItem(InputModel):
    product_id: uuid.UUID
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_STOCK), WholeNumber]


class ReserveRequest(InputModel):
    order_id: uuid.UUID
    items: Annotated[list[ReserveItem], Field(min_length=1, max_length=MAX_RESERVE_ITEMS)]


class ReleaseRequest(InputModel):
    order_id: uuid.UUID


class ReservedItem(BaseModel):
    """One reserved line with the product's name and price when it was reserved."""

    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int


class ReservationRead(BaseModel):
    order_id: uuid.UUID
    items: list[ReservedItem]


class ReleaseResult(BaseModel):
    order_id: uuid.UUID
    released: bool


class ProductServiceClient(ServiceClient):
    target = "product"

    async def reserve(
        self, order_id: uuid.UUID, items: Sequence[tuple[uuid.UUID, int]]
    ) -> ReservationRead:
        """Take the stock of every line, all or nothing; repeating it takes nothing more."""
        lines = [{"product_id": pid, "quantity": qty} for pid, qty in items]
        refusal = ValidationFailed("The order's lines are outside what the catalogue takes")
        body = self.outgoing(ReserveRequest, {"order_id": order_id, "items": lines}, refusal)
        response = await self.post("reserve", RESERVE_PATH, body, idempotent=True)
        return self._answer(response, ReservationRead)

    async def release(self, order_id: uuid.UUID) -> ReleaseResult:
        """Put back what the order took, once, however often it is called."""
        body = self.outgoing(ReleaseRequest, {"order_id": order_id}, ValidationFailed())
        response = await self.post("release", RELEASE_PATH, body, idempotent=True)
        return self._answer(response, ReleaseResult)

    def _answer(self, response: ServiceResponse, model: type[M]) -> M:
        if response.status_code in (404, 409):
            refusal = _refusal(response)
            refusal.earlier_attempt_unknown = response.earlier_attempt_unknown
            raise refusal
        if response.status_code != 200:
            raise self.misconfigured(response)
        return self.parse(response, model)


def _refusal(response: ServiceResponse) -> AppError:
    if response.status_code == 404:
        return NotFound(
            _message(response, "Product not found"),
            code="product_not_found",
            details=_details(response),
        )
    return _conflict(response)


def _conflict(response: ServiceResponse) -> AppError:
    if _body(response).get("code") == "reservation_released":
        return ServiceUnavailable(ORDER_EXPIRED, code="order_expired")
    return Conflict(
        _message(response, "Insufficient stock"),
        code="insufficient_stock",
        details=_details(response),
    )


def _body(response: ServiceResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: ServiceResponse, default: str) -> str:
    message = _body(response).get("message")
    return message if isinstance(message, str) and message else default


def _details(response: ServiceResponse) -> list[dict[str, Any]]:
    details = _body(response).get("details")
    if not isinstance(details, list):
        return []
    return [entry for entry in details if isinstance(entry, dict)]
