"""All SQL of the product catalogue.

The reads (detail, live state, list) take a connection: the routes run them on
`Database.connection()`, one statement each, with no ORM unit of work. The writes use the
request's session.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, ScalarSelect, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from product_service.catalogue.schemas import ProductCreate, ProductFilters, ProductSort
from product_service.models import Product, ProductCount
from shop_common.db import insert, remove

__all__ = [
    "AnyRow",
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

# Rows and statements of any columns.
AnyRow = Row[*tuple[Any, ...]]
AnySelect = Select[*tuple[Any, ...]]
# What a read returns: the contract's fields and the version (the ETag).
_READ_COLUMNS = (
    Product.id,
    Product.creator_id,
    Product.name,
    Product.description,
    Product.price,
    Product.stock,
    Product.created_at,
    Product.modified_at,
    Product.version,
)
_GET = select(*_READ_COLUMNS)
_GET_LIVE = select(Product.stock, Product.version, Product.modified_at)
# Every product, from the trigger-kept counter (models.ProductCount); no row: none yet.
_ALL_COUNT = func.coalesce(select(ProductCount.n).where(ProductCount.id == 1).scalar_subquery(), 0)

# Each sort ends with `id` in the same direction: a stable order one index can serve.
_ORDER_BY: dict[ProductSort, tuple[Any, Any]] = {
    "created_at": (Product.created_at.asc(), Product.id.asc()),
    "-created_at": (Product.created_at.desc(), Product.id.desc()),
    "price": (Product.price.asc(), Product.id.asc()),
    "-price": (Product.price.desc(), Product.id.desc()),
    "name": (Product.name.asc(), Product.id.asc()),
}


async def get_product(conn: AsyncConnection, product_id: uuid.UUID) -> AnyRow | None:
    """The product's read columns and version, by primary key."""
    result = await conn.execute(_GET.where(Product.id == product_id))
    return result.first()


async def get_live(conn: AsyncConnection, product_id: uuid.UUID) -> Row[int, int, datetime] | None:
    """The columns every order changes (stock, version, modified_at), by primary key: what a
    cached detail is completed with."""
    result = await conn.execute(_GET_LIVE.where(Product.id == product_id))
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
    conn: AsyncConnection, *, filters: ProductFilters, offset: int, limit: int
) -> list[AnyRow]:
    """One page of read columns, each row with `total`, how many match in all."""
    result = await conn.execute(list_query(filters, offset=offset, limit=limit))
    return list(result.all())


def list_query(filters: ProductFilters, *, offset: int, limit: int) -> AnySelect:
    """The page and its total in one statement (the total an uncorrelated subquery, run once);
    on its own so its plan can be checked with EXPLAIN."""
    total = _total(filters).label("total")
    query = _filtered(select(*_READ_COLUMNS, total), filters)
    return query.order_by(*_ORDER_BY[filters.sort]).offset(offset).limit(limit)


async def count_products(conn: AsyncConnection, *, filters: ProductFilters) -> int:
    """How many match: for a page past the end, which has no row to carry its total."""
    return int((await conn.execute(select(_total(filters)))).scalar_one())


def _total(filters: ProductFilters) -> ColumnElement[int] | ScalarSelect[int]:
    """Unfiltered: the counter the triggers keep. Filtered: an exact count of the matches."""
    conditions = _conditions(filters)
    if not conditions:
        return _ALL_COUNT
    matching = select(func.count()).select_from(Product).where(*conditions)
    return matching.correlate(None).scalar_subquery()


def _filtered(query: AnySelect, filters: ProductFilters) -> AnySelect:
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
