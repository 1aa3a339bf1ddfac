"""Business rules of the product catalogue. Raises `AppError`s; flushes, never commits."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue import repository
from product_service.catalogue.cache import (
    CachedProduct,
    LiveState,
    ProductCache,
    VersionedProduct,
    make_etag,
)
from product_service.catalogue.repository import AnyRow
from product_service.catalogue.schemas import (
    ProductCreate,
    ProductEdit,
    ProductFilters,
    ProductRead,
    ProductUpdate,
)
from product_service.errors import NotProductOwner, ProductNameTaken, ProductNotFound
from product_service.models import Product
from shop_common.db import Database
from shop_common.errors import PreconditionFailed
from shop_common.schemas import Page, Pagination

__all__ = [
    "ProductNotFound",
    "create_product",
    "delete_product",
    "get_product",
    "list_products",
    "update_product",
    "versioned",
]


def _name_taken() -> ProductNameTaken:
    return ProductNameTaken()


def versioned(product: Product | AnyRow) -> VersionedProduct:
    read = ProductRead.model_validate(product, from_attributes=True)
    return VersionedProduct(read, product.version)


async def create_product(
    session: AsyncSession, *, creator_id: uuid.UUID, data: ProductCreate
) -> VersionedProduct:
    if await repository.name_taken(session, creator_id=creator_id, name=data.name):
        raise _name_taken()
    try:
        product = await repository.create_product(session, creator_id=creator_id, data=data)
    except IntegrityError as exc:  # a concurrent create with the same name won the race
        raise _name_taken() from exc
    return versioned(product)


async def get_product(
    database: Database, cache: ProductCache, *, product_id: uuid.UUID
) -> VersionedProduct:
    """The product from its two cache parts; a missing part is read from the database
    (the live one alone by primary key, one statement on a pooled autocommit connection)
    and stored for the next read."""
    cached, live = await cache.get(product_id)
    if cached is None:
        return await _read_and_cache(database, cache, product_id)
    if live is None:
        live = await _read_live(database, cache, product_id)
    product = ProductRead(**cached.model_dump(), stock=live.stock, modified_at=live.modified_at)
    return VersionedProduct(product, live.version)


def live_state(product: Product | AnyRow) -> LiveState:
    return LiveState(product.id, product.version, product.stock, product.modified_at)


async def _read_and_cache(
    database: Database, cache: ProductCache, product_id: uuid.UUID
) -> VersionedProduct:
    async with database.connection() as conn:  # given back before the Redis writes
        product = await repository.get_product(conn, product_id)
    if product is None:
        raise ProductNotFound()
    await cache.set(CachedProduct.model_validate(product, from_attributes=True))
    await cache.record_now([live_state(product)])
    return versioned(product)


async def _read_live(database: Database, cache: ProductCache, product_id: uuid.UUID) -> LiveState:
    async with database.connection() as conn:
        row = await repository.get_live(conn, product_id)
    if row is None:  # deleted since its entry was cached
        raise ProductNotFound()
    stock, version, modified_at = row
    live = LiveState(product_id, version, stock, modified_at)
    await cache.record_now([live])
    return live


async def list_products(
    database: Database, *, filters: ProductFilters, page: Pagination
) -> Page[ProductRead]:
    """One page of the products matching `filters`, and how many match in all: one
    statement, plus a count alone for a page past the end."""
    async with database.connection() as conn:
        rows = await repository.list_products(
            conn, filters=filters, offset=page.offset, limit=page.limit
        )
        if rows:
            total = int(rows[0].total)
        elif page.offset == 0:
            total = 0
        else:
            total = await repository.count_products(conn, filters=filters)
    return Page([ProductRead.model_validate(row, from_attributes=True) for row in rows], total)


async def update_product(
    session: AsyncSession, cache: ProductCache, edit: ProductEdit, *, data: ProductUpdate
) -> VersionedProduct:
    product = await _editable(session, edit)
    await cache.invalidate(session, [edit.product_id])
    changes = data.model_dump(exclude_unset=True)
    new_name = changes.get("name", product.name)
    if new_name != product.name and await repository.name_taken(
        session, creator_id=edit.user_id, name=new_name, exclude_id=product.id
    ):
        raise _name_taken()
    for field, value in changes.items():
        setattr(product, field, value)
    product.version += 1
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _name_taken() from exc
    cache.record(session, [live_state(product)])
    return versioned(product)


async def delete_product(session: AsyncSession, cache: ProductCache, edit: ProductEdit) -> None:
    """Delete the product; reservations keep their own snapshot of it."""
    product = await _editable(session, edit)
    await cache.invalidate(session, [edit.product_id])
    await repository.delete_product(session, product)


async def _editable(session: AsyncSession, edit: ProductEdit) -> Product:
    """The product, locked, once it exists (404), is the user's (403) and is unchanged (412).

    Only then may the caller drop its cache entry: a refused write leaves it in place.
    """
    product = await repository.get_product_for_update(session, edit.product_id)
    if product is None:
        raise ProductNotFound()
    if product.creator_id != edit.user_id:
        raise NotProductOwner()
    if not _etag_matches(edit.if_match, make_etag(product.id, product.version)):
        raise PreconditionFailed(
            "The product changed since you read it; fetch it again and retry",
            code="precondition_failed",
        )
    return product


def _etag_matches(if_match: str | None, etag: str) -> bool:
    """RFC 9110 If-Match: absent or `*` matches; otherwise any listed tag equal to ours.

    A `W/` prefix is ignored: our tag names one exact version, so weak and strong agree.
    """
    if if_match is None:
        return True
    tags = [tag.strip() for tag in if_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)
