"""Request and response bodies of the internal stock routes."""

import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from product_service.schemas import MAX_STOCK
from shop_common.schemas import InputModel

__all__ = [
    "MAX_ITEMS",
    "ReleaseRequest",
    "ReleaseResult",
    "ReservationRead",
    "ReserveItem",
    "ReserveRequest",
    "ReservedItem",
]

MAX_ITEMS = 50


class ReserveItem(InputModel):
    product_id: uuid.UUID
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_STOCK)]


class ReserveRequest(InputModel):
    order_id: uuid.UUID
    items: Annotated[list[ReserveItem], Field(min_length=1, max_length=MAX_ITEMS)]


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
