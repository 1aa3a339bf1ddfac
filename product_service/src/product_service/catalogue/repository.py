"""All SQL of the product catalogue."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.schemas import ProductCreate, ProductFilters, ProductSort
from product_service.models import Product
from shop_common.db import insert, remove

__all__ = [
    "count_products",
    "create_product",
    "delete_product",
    "get_product",
    "get_live",
    "get_product_for_update",
    "list_products",
    "list_query",
    "name_taken",
]

# Each sort ends with `id` in the same direction: a stable order one index can serve.
_ORDER_BY: dict[ProductSort, tuple[Any, Any]] = {
    "created_at": (Product.created_at.asc(), Product.id.asc()),
    "-created_at": (Product.created_at.desc(), Product.id.desc()),
    "price": (Product.price.asc(), Product.id.asc()),
    "-price": (Product.price.desc(), Product.id.desc()),
    "name": (Product.name.asc(), Product.id.asc()),
}


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product | None:
    return await session.get(Product, product_id)


async def get_live(session: AsyncSession, product_id: uuid.UUID) -> Row[int, int, datetime] | None:
    """The columns every order changes (stock, version, modified_at), by primary key: what a
    cached detail is completed with."""
    query = select(Product.stock, Product.version, Product.modified_at)
    result = await session.execute(query.where(Product.id == product_id))
    return result.first()


async def get_product_for_update(session: AsyncSession, product_id: uuid.UUID) -> Product | None:
    """Lock the row until the request commits, so a checked ETag stays true while we write."""
    result = await session.execute(
        select(Product).where(Product.id == product_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def name_taken(
    session: AsyncSession, *, creator_id: uuid.UUID, name: str, exclude_id: uuid.UUID | None = None
) -> bool:
    query = select(Product.id).where(Product.creator_id == creator_id, Product.name == name)
    if exclude_id is not None:
        query = query.where(Product.id != exclude_id)
    result = await session.execute(query.limit(1))
    return result.first() is not None


async def create_product(
    session: AsyncSession, *, creator_id: uuid.UUID, data: ProductCreate
) -> Product:
    return await insert(session, Product(creator_id=creator_id, **data.model_dump()))


async def delete_product(session: AsyncSession, product: Product) -> None:
    await remove(session, product)


async def list_products(
    session: AsyncSession, *, filters: ProductFilters, offset: int, limit: int
) -> list[Product]:
    result = await session.execute(list_query(filters, offset=offset, limit=limit))
    return list(result.scalars())


def list_query(filters: ProductFilters, *, offset: int, limit: int) -> Select[Product]:
    """The page query on its own, so its plan can be checked with EXPLAIN."""
    query = _filtered(select(Product), filters).order_by(*_ORDER_BY[filters.sort])
    return query.offset(offset).limit(limit)


async def count_products(session: AsyncSession, *, filters: ProductFilters) -> int:
    result = await session.execute(_filtered(select(func.count(Product.id)), filters))
    return int(result.scalar_one())


def _filtered(query: Select[Any], filters: ProductFilters) -> Select[Any]:
    return query.where(*_conditions(filters))


def _conditions(filters: ProductFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        conditions.append(
            or_(
                Product.name.ilike(pattern, escape="\\"),
                Product.description.ilike(pattern, escape="\\"),
            )
        )
    if filters.min_price is not None:
        conditions.append(Product.price >= filters.min_price)
    if filters.max_price is not None:
        conditions.append(Product.price <= filters.max_price)
    if filters.in_stock is not None:
        conditions.append(Product.stock > 0 if filters.in_stock else Product.stock == 0)
    if filters.creator_id is not None:
        conditions.append(Product.creator_id == filters.creator_id)
    return conditions


def _escape_like(text: str) -> str:
    """Make `%`, `_` and `\\` match themselves in an ILIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
