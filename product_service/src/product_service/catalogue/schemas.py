"""Request and response bodies of the product catalogue, and the list filters."""

import uuid
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shop_common.schemas import NOT_WHITESPACE, InputModel, WholeNumber, partial_update_schema
from shop_contracts.product import MAX_STOCK, ProductRead

__all__ = [
    "MAX_PRICE",
    "MAX_STOCK",
    "Price",
    "ProductCreate",
    "ProductFilters",
    "ProductRead",
    "ProductSort",
    "ProductUpdate",
    "Stock",
]

# An order's total (at most 50 lines x 1000 units) stays at or below 2**53 - 1, so a
# JavaScript client reads it exactly: floor((2**53 - 1) / 50_000). The products table checks it too.
MAX_PRICE = 180_143_985_094
# Far below INTEGER's 2**31 - 1, so giving reserved units back can never overflow.

# Trimmed, then 1..100 characters: the schema's pattern asks for one that is not whitespace.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(json_schema_extra={"pattern": NOT_WHITESPACE}),
]
Description = Annotated[str, Field(max_length=5000)]
# strict: money and counts are JSON integers (`5.0` included), never strings or booleans.
Price = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE, description="In cents"), WholeNumber]
Stock = Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK), WholeNumber]
ProductSort = Literal["created_at", "-created_at", "price", "-price", "name"]


class ProductCreate(InputModel):
    name: Name
    description: Description = ""
    price: Price
    stock: Stock = 0


class ProductUpdate(InputModel):
    """Any of the fields, at least one; absent ones keep their value, `null` is refused (the
    schema says both: `minProperties`, and no `null` in the fields' types)."""

    model_config = ConfigDict(json_schema_extra=partial_update_schema)

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    stock: Stock | None = None

    @field_validator("name", "description", "price", "stock")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields sent in the body: defaults are not validated.
        if value is None:
            raise ValueError("must not be null")
        return value

    @model_validator(mode="after")
    def _something_to_update(self) -> "ProductUpdate":
        if not self.model_fields_set:
            raise ValueError("Provide at least one of: name, description, price, stock")
        return self


class ProductFilters(BaseModel):
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    creator_id: uuid.UUID | None = None
    sort: ProductSort = "-created_at"


class ProductEdit(BaseModel):
    """Who asks to change which product, and the version they read (If-Match), as the update
    and delete routes receive them."""

    product_id: uuid.UUID
    user_id: uuid.UUID
    if_match: str | None = None
