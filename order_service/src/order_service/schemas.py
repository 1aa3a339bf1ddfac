"""Request and response bodies of the order service."""

import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from order_service.models import VISIBLE_STATUSES, OrderStatus
from shop_common.schemas import InputModel, WholeNumber

__all__ = [
    "MAX_QUANTITY",
    "OrderCreate",
    "OrderItemRead",
    "OrderLine",
    "OrderLineIn",
    "OrderRead",
    "VisibleStatus",
    "lines_hash",
]


def _visible(status: OrderStatus) -> OrderStatus:
    if status not in VISIBLE_STATUSES:
        raise ValueError(f"Input should be {', '.join(repr(s.value) for s in VISIBLE_STATUSES)}")
    return status


# An order status as its owner sees it: one of `OrderStatus` but `cancelled`.
VisibleStatus = Annotated[
    OrderStatus,
    AfterValidator(_visible),
    WithJsonSchema({"type": "string", "enum": [status.value for status in VISIBLE_STATUSES]}),
]

# The most units of one product an order may take, per line and after merging lines.
MAX_QUANTITY = 1000
Quantity = Annotated[
    int,
    Field(
        strict=True, ge=1, le=MAX_QUANTITY, description=f"Units of the product (1..{MAX_QUANTITY})"
    ),
    WholeNumber,
]


class OrderLineIn(InputModel):
    product_id: uuid.UUID
    quantity: Quantity


class OrderLine(BaseModel):
    """One line as sent to the product service: lines of one product are merged."""

    product_id: uuid.UUID
    quantity: int


def _merged(items: list[OrderLineIn]) -> dict[uuid.UUID, int]:
    """Units per product, in the order products first appear."""
    merged: dict[uuid.UUID, int] = {}
    for item in items:
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
    return merged


class OrderCreate(InputModel):
    """Either the single-product form (`product_id`, `quantity`) or `items`, never both."""

    # The schema says it too, so a body valid for the schema is one of the two forms.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["product_id"],
                    "properties": {"product_id": {"type": "string"}, "items": {"type": "null"}},
                },
                {
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array"},
                        "product_id": {"type": "null"},
                        "quantity": False,
                    },
                },
            ]
        }
    )

    product_id: uuid.UUID | None = None
    quantity: Quantity = 1
    items: Annotated[
        list[OrderLineIn] | None,
        Field(
            min_length=1,
            max_length=50,
            description=f"Lines for the same product are merged; at most {MAX_QUANTITY} "
            "units of a product in all",
        ),
    ] = None

    @field_validator("items")
    @classmethod
    def _merged_within_cap(cls, items: list[OrderLineIn] | None) -> list[OrderLineIn] | None:
        # The cap is on what is reserved, so it holds after merging: 50 lines of 1000 units
        # of one product would otherwise be one line of 50,000.
        over = [(pid, qty) for pid, qty in _merged(items or []).items() if qty > MAX_QUANTITY]
        if over:
            pid, qty = over[0]
            raise ValueError(
                f"The lines for product {pid} add up to {qty} units; "
                f"at most {MAX_QUANTITY} units of a product per order"
            )
        return items

    @model_validator(mode="after")
    def _one_form(self) -> "OrderCreate":
        single = self.product_id is not None or "quantity" in self.model_fields_set
        if single and self.items is not None:
            raise ValueError("Give either product_id and quantity, or items, not both")
        if self.product_id is None and self.items is None:
            raise ValueError("Give product_id (and optionally quantity), or items")
        return self

    def lines(self) -> list[OrderLine]:
        """The order's lines, repeated products merged, in the order they first appear."""
        if self.items is None:
            assert self.product_id is not None  # noqa: S101 - guaranteed by _one_form
            return [OrderLine(product_id=self.product_id, quantity=self.quantity)]
        merged = _merged(self.items)
        return [OrderLine(product_id=pid, quantity=qty) for pid, qty in merged.items()]


def lines_hash(lines: list[OrderLine]) -> str:
    """A fingerprint of what was ordered: two bodies meaning the same order hash the same."""
    canonical = sorted((str(line.product_id), line.quantity) for line in lines)
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


class OrderItemRead(BaseModel):
    product_id: uuid.UUID
    name: str = Field(description="Product name as reserved; empty until confirmed")
    unit_price: int = Field(description="Price in cents as reserved; 0 until confirmed")
    quantity: int


class OrderRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    status: VisibleStatus
    items: list[OrderItemRead]
    total: int = Field(description="Sum of unit_price x quantity, in cents")
    created_at: datetime
    modified_at: datetime
