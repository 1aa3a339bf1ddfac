"""All SQL of stock reservations.

Locks are always taken in the same order: the order's reservation row first, then product
rows by ascending id. Two requests touching the same products therefore queue instead of
deadlocking, whatever the order of the items they were given.

A reserve is two statements (issue 12): the claim of the order, then `take_stock`, which
locks, checks, takes and records in one. An `UPDATE ... FROM` does not lock in any fixed
order by itself, so every product row is first locked by a sub-select sorted by id
(`SELECT ... ORDER BY id FOR UPDATE`: PostgreSQL sorts before it locks) that the update
joins: a row is updated only once that sub-select has locked it, and it locks in id order.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Select,
    Subquery,
    Table,
    Uuid,
    bindparam,
    column,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.cache import LiveState
from product_service.models import Product, Reservation, ReservationItem

__all__ = [
    "Attempt",
    "Taken",
    "claim_reservation",
    "get_items",
    "give_back",
    "lock_reservation",
    "mark_released",
    "take_stock",
]

# The Core tables: each statement below is one round trip, not an ORM unit of work. The
# statements of a reserve are built once, with bound parameters, and run on the session's
# connection: building the statement and its cache key took a third of a reserve's CPU
# when it was rebuilt on every call (issue 12, py-spy of a product worker).
_products = cast(Table, Product.__table__)
_items = cast(Table, ReservationItem.__table__)
_reservations = cast(Table, Reservation.__table__)
# What a write returns for the cache's live part, in `LiveState`'s order.
_LIVE = (_products.c.id, _products.c.version, _products.c.stock, _products.c.modified_at)


@dataclass(frozen=True)
class Taken:
    """A product a reserve took stock of: the name and price the order keeps, and the
    row's new state for the cache."""

    name: str
    price: int
    live: LiveState


async def claim_reservation(
    session: AsyncSession, order_id: uuid.UUID, *, released: bool = False
) -> bool:
    """Insert the order's reservation row; False when it exists already.

    A concurrent claim of the same order waits here until the first one commits or rolls
    back, so two requests for one order never both proceed.
    """
    connection = await session.connection()
    result = await connection.execute(_CLAIM[released], {"order_id": order_id})
    return result.scalar_one_or_none() is not None


def _claim_statement(released: bool) -> Any:
    return (
        insert(_reservations)
        .values(order_id=bindparam("order_id"), released_at=func.now() if released else None)
        .on_conflict_do_nothing(index_elements=[_reservations.c.order_id])
        .returning(_reservations.c.order_id)
    )


_CLAIM = {released: _claim_statement(released) for released in (False, True)}


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


def _locked_in_id_order(ids: Select[Any]) -> Subquery:
    """The products among `ids`, locked one by one in ascending id order."""
    query = select(_products.c.id).where(_products.c.id.in_(ids))
    return query.order_by(_products.c.id).with_for_update().subquery("locked")


@dataclass(frozen=True)
class Attempt:
    """What `take_stock` did: the products taken, and the stock every existing wanted
    product had when it was locked (the 409's `available`)."""

    taken: dict[uuid.UUID, Taken]
    available: dict[uuid.UUID, int]


async def take_stock(
    session: AsyncSession, order_id: uuid.UUID, wanted: Mapping[uuid.UUID, int]
) -> Attempt:
    """Lock the wanted products in id order, take each quantity from those that have it and
    record the order's lines for them, in one statement.

    When not every wanted product was taken the caller must refuse (raise), so the
    transaction rolls back what this took and recorded; the refusal's details come from the
    same statement, so a short order holds its locks for no further round trip.
    """
    connection = await session.connection()
    parameters = {"ids": list(wanted), "quantities": list(wanted.values()), "order_id": order_id}
    rows = (await connection.execute(_TAKE_STOCK, parameters)).all()
    return Attempt(
        taken={
            row.id: Taken(row.name, row.price, LiveState(*row[2:6]))
            for row in rows
            if row.id is not None
        },
        available={row.locked_id: row.available for row in rows},
    )


def _take_stock_statement() -> Any:
    """`take_stock`'s statement, with the parameters `ids`, `quantities` and `order_id`."""
    unnest = func.unnest(
        bindparam("ids", type_=ARRAY(Uuid)),
        bindparam("quantities", type_=ARRAY(Integer)),
    ).table_valued(column("product_id", Uuid), column("quantity", Integer), with_ordinality="line")
    w = select(unnest.render_derived("items")).cte("wanted")
    p = _products
    locked = (
        select(p.c.id, p.c.stock)
        .where(p.c.id.in_(select(w.c.product_id)))
        .order_by(p.c.id)
        .with_for_update()
        .cte("locked")
    )
    taken = (
        update(p)
        .where(p.c.id == locked.c.id, p.c.id == w.c.product_id, p.c.stock >= w.c.quantity)
        .values(stock=p.c.stock - w.c.quantity, version=p.c.version + 1, modified_at=func.now())
        .returning(*_LIVE, p.c.name, p.c.price)
        .cte("taken")
    )
    lines = select(
        bindparam("order_id", type_=Uuid),
        w.c.line,
        taken.c.id,
        taken.c.name,
        taken.c.price,
        w.c.quantity,
    ).join_from(taken, w, w.c.product_id == taken.c.id)
    recorded = insert(_items).from_select(
        ["order_id", "line", "product_id", "name", "unit_price", "quantity"], lines
    )
    return (
        select(locked.c.id.label("locked_id"), locked.c.stock.label("available"), *taken.c)
        .select_from(locked.outerjoin(taken, taken.c.id == locked.c.id))
        .add_cte(recorded.cte("recorded"))
    )


_TAKE_STOCK = _take_stock_statement()


async def mark_released(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Mark the order's reservation released; False when it was already.

    The update locks the row, so a concurrent release waits, then sees it released.
    """
    result = await session.execute(
        update(Reservation)
        .where(Reservation.order_id == order_id, Reservation.released_at.is_(None))
        .values(released_at=func.now())
        .returning(Reservation.order_id)
    )
    return result.scalar_one_or_none() is not None


async def give_back(session: AsyncSession, order_id: uuid.UUID) -> list[LiveState]:
    """Put every reserved quantity of the order back, locking products in id order;
    deleted products are skipped. Returns the new states of the products given to."""
    owed = (
        select(_items.c.product_id, func.sum(_items.c.quantity).label("quantity"))
        .where(_items.c.order_id == order_id)
        .group_by(_items.c.product_id)
        .subquery("owed")
    )
    locked = _locked_in_id_order(select(owed.c.product_id))
    p = _products
    result = await session.execute(
        update(p)
        .where(p.c.id == locked.c.id, p.c.id == owed.c.product_id)
        .values(stock=p.c.stock + owed.c.quantity, version=p.c.version + 1, modified_at=func.now())
        .returning(*_LIVE)
    )
    return [LiveState(*row) for row in result.all()]
