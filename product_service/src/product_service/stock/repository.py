"""All SQL of stock reservations.

Locks are always taken in the same order: the order's reservation row first, then product
rows by ascending id. Two requests touching the same products therefore queue instead of
deadlocking, whatever the order of the items they were given.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.models import Product, Reservation, ReservationItem
from shop_contracts.product import ReservedItem

__all__ = [
    "StockRow",
    "add_items",
    "claim_reservation",
    "get_items",
    "lock_products",
    "lock_reservation",
    "mark_released",
    "move_stock",
]


@dataclass(frozen=True)
class StockRow:
    id: uuid.UUID
    name: str
    price: int
    stock: int


async def claim_reservation(
    session: AsyncSession, order_id: uuid.UUID, *, released: bool = False
) -> bool:
    """Insert the order's reservation row; False when it exists already.

    A concurrent claim of the same order waits here until the first one commits or rolls
    back, so two requests for one order never both proceed.
    """
    statement = (
        insert(Reservation)
        .values(order_id=order_id, released_at=func.now() if released else None)
        .on_conflict_do_nothing(index_elements=[Reservation.order_id])
        .returning(Reservation.order_id)
    )
    result = await session.execute(statement)
    return result.scalar_one_or_none() is not None


async def lock_reservation(session: AsyncSession, order_id: uuid.UUID) -> Reservation | None:
    result = await session.execute(
        select(Reservation).where(Reservation.order_id == order_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def get_items(session: AsyncSession, order_id: uuid.UUID) -> list[ReservationItem]:
    result = await session.execute(
        select(ReservationItem)
        .where(ReservationItem.order_id == order_id)
        .order_by(ReservationItem.line)
    )
    return list(result.scalars())


async def lock_products(session: AsyncSession, product_ids: Sequence[uuid.UUID]) -> list[StockRow]:
    """Lock the existing products among `product_ids`, in id order."""
    result = await session.execute(
        select(Product.id, Product.name, Product.price, Product.stock)
        .where(Product.id.in_(product_ids))
        .order_by(Product.id)
        .with_for_update()
    )
    return [StockRow(*row) for row in result.all()]


async def move_stock(session: AsyncSession, deltas: Mapping[uuid.UUID, int]) -> None:
    """Add `delta` to each product's stock (negative takes); missing products are skipped.

    Rows are updated in id order, the order every lock here is taken in.
    """
    # The Core table: an executemany of one UPDATE, not an ORM bulk update by primary key.
    products = cast(Table, Product.__table__)
    statement = (
        update(products)
        .where(products.c.id == bindparam("product_id"))
        .values(stock=products.c.stock + bindparam("delta"), version=products.c.version + 1)
    )
    params = [{"product_id": pid, "delta": deltas[pid]} for pid in sorted(deltas)]
    await session.execute(statement, params)


async def add_items(
    session: AsyncSession, order_id: uuid.UUID, items: Sequence[ReservedItem]
) -> None:
    session.add_all(
        ReservationItem(order_id=order_id, line=line, **item.model_dump())
        for line, item in enumerate(items, start=1)
    )
    await session.flush()


async def mark_released(session: AsyncSession, reservation: Reservation) -> None:
    reservation.released_at = datetime.now(UTC)
    await session.flush()
