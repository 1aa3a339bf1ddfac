"""All SQL of stock reservations: one statement per step, each its own transaction.

They run on `Database.connection()` (autocommit), so a reserve or a release commits with its
one round trip, and a statement that fails (a refusal is no failure) leaves nothing behind.
Each is built once, and asyncpg prepares it once per pooled connection.

Lock order, in every statement here: product rows by ascending id, then the order's
reservation row, and nothing after that row. A transaction that waits for a product holds
only products of lower ids; one that waits for a reservation row waits for a transaction that
already holds every lock it will take. So reserves and releases queue, never deadlock
(docs/architecture.md, "Stock reservations").

Every statement reads as of its start (READ COMMITTED). A row locked after a wait is read as
committed then; a reservation row committed during the statement cannot be read, only met by
the claim's `ON CONFLICT`. A reserve or release that meets one says so, and the service reads
again in a new statement.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Integer, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from product_service.catalogue.cache import LiveState

__all__ = [
    "Attempt",
    "Release",
    "Stored",
    "StoredItem",
    "Taken",
    "get_reservation",
    "release",
    "take_stock",
]


@dataclass(frozen=True)
class Taken:
    """A product a reserve took stock of: the name and price the order keeps, and the
    row's new state for the cache."""

    name: str
    price: int
    live: LiveState


@dataclass(frozen=True)
class Attempt:
    """What `take_stock` did: the products taken (all wanted, or none), and the stock every
    existing wanted product had when it was locked (the 409's `available`)."""

    taken: dict[uuid.UUID, Taken]
    available: dict[uuid.UUID, int]


# Locks the wanted products in id order (`FOR UPDATE` in a sub-select sorted by id:
# PostgreSQL sorts before it locks), unless the order's reservation is visible already (a
# repeat: nothing to lock). Only when every wanted product is there with enough stock does
# it claim the order, and only a claim it inserted lets it take the stock and record the
# lines: so a refusal, or a claim another request of the same order won, takes nothing and
# leaves no row. The claim comes after the product locks, so a concurrent claim of the same
# order (the same products: queued behind their locks) has committed or failed by then.
_TAKE_STOCK = text(
    """
    WITH wanted AS (
        SELECT * FROM unnest(:product_ids, :quantities) WITH ORDINALITY
            AS wanted(product_id, quantity, line)
    ), locked AS (
        SELECT products.id, products.stock FROM products
        WHERE products.id IN (SELECT product_id FROM wanted)
            AND NOT EXISTS (SELECT FROM reservations WHERE order_id = :order_id)
        ORDER BY products.id
        FOR UPDATE
    ), claimed AS (
        INSERT INTO reservations (order_id)
        SELECT :order_id
        WHERE (
            SELECT count(*) FROM locked JOIN wanted ON wanted.product_id = locked.id
            WHERE locked.stock >= wanted.quantity
        ) = cardinality(:product_ids)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), taken AS (
        UPDATE products SET stock = products.stock - wanted.quantity,
            version = products.version + 1, modified_at = now()
        FROM wanted, claimed
        WHERE products.id = wanted.product_id
        RETURNING products.id, products.version, products.stock, products.modified_at,
            products.name, products.price
    ), recorded AS (
        INSERT INTO reservation_items (order_id, line, product_id, name, unit_price, quantity)
        SELECT :order_id, wanted.line, taken.id, taken.name, taken.price, wanted.quantity
        FROM taken JOIN wanted ON wanted.product_id = taken.id
    )
    SELECT locked.id, locked.stock AS available, taken.version, taken.stock,
        taken.modified_at, taken.name, taken.price
    FROM locked LEFT JOIN taken ON taken.id = locked.id
    """
).bindparams(
    bindparam("order_id", type_=Uuid),
    bindparam("product_ids", type_=ARRAY(Uuid)),
    bindparam("quantities", type_=ARRAY(Integer)),
)


async def take_stock(
    connection: AsyncConnection, order_id: uuid.UUID, wanted: Mapping[uuid.UUID, int]
) -> Attempt:
    """Take every wanted quantity and record the order's lines, or take nothing: one
    statement. Nothing is taken when a product is unknown or short, or when the order's
    reservation exists (visible or committed meanwhile): the caller then reads it."""
    parameters = {
        "order_id": order_id,
        "product_ids": list(wanted),
        "quantities": list(wanted.values()),
    }
    rows = (await connection.execute(_TAKE_STOCK, parameters)).all()
    return Attempt(
        taken={
            row.id: Taken(row.name, row.price, LiveState(row.id, *row[2:5]))
            for row in rows
            if row.version is not None
        },
        available={row.id: row.available for row in rows},
    )


@dataclass(frozen=True)
class StoredItem:
    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int


@dataclass(frozen=True)
class Stored:
    """An order's reservation as committed: its lines in order, or released."""

    released: bool
    items: list[StoredItem]


_GET_RESERVATION = text(
    """
    SELECT reservations.released_at IS NOT NULL AS released, reservation_items.product_id,
        reservation_items.name, reservation_items.unit_price, reservation_items.quantity
    FROM reservations
    LEFT JOIN reservation_items ON reservation_items.order_id = reservations.order_id
    WHERE reservations.order_id = :order_id
    ORDER BY reservation_items.line
    """
).bindparams(bindparam("order_id", type_=Uuid))


async def get_reservation(connection: AsyncConnection, order_id: uuid.UUID) -> Stored | None:
    rows = (await connection.execute(_GET_RESERVATION, {"order_id": order_id})).all()
    if not rows:
        return None
    items = [StoredItem(*row[1:]) for row in rows if row.product_id is not None]
    return Stored(released=rows[0].released, items=items)


@dataclass(frozen=True)
class Release:
    """What `release` did: `released` only for the call that gave the stock back (with the
    new states of the products given to); `settled` False when the order's reservation was
    committed during the statement, so it could not be read: run it again."""

    released: bool
    settled: bool
    given: list[LiveState]


# Reads the order's reservation as of the statement's start. An unreleased one: lock the
# products it holds in id order, then mark it released (the UPDATE locks the row and
# re-checks it after any wait, so of two releases one marks it), and only a mark lets it
# give the stock back (deleted products are skipped). None visible: insert it released, so
# a reserve arriving late is refused; a row met there was committed meanwhile.
_RELEASE = text(
    """
    WITH seen AS (
        SELECT released_at FROM reservations WHERE order_id = :order_id
    ), owed AS (
        SELECT product_id, sum(quantity) AS quantity FROM reservation_items
        WHERE order_id = :order_id AND EXISTS (SELECT FROM seen WHERE released_at IS NULL)
        GROUP BY product_id
    ), locked AS (
        SELECT id FROM products WHERE id IN (SELECT product_id FROM owed)
        ORDER BY id
        FOR UPDATE
    ), marked AS (
        UPDATE reservations SET released_at = now()
        FROM (SELECT count(*) FROM locked) AS products_locked_first
        WHERE order_id = :order_id AND released_at IS NULL
        RETURNING order_id
    ), claimed AS (
        INSERT INTO reservations (order_id, released_at)
        SELECT :order_id, now() WHERE NOT EXISTS (SELECT FROM seen)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), given AS (
        UPDATE products SET stock = products.stock + owed.quantity,
            version = products.version + 1, modified_at = now()
        FROM owed, locked, marked
        WHERE products.id = owed.product_id AND products.id = locked.id
        RETURNING products.id, products.version, products.stock, products.modified_at
    )
    SELECT EXISTS (SELECT FROM seen) OR EXISTS (SELECT FROM claimed) AS settled,
        EXISTS (SELECT FROM marked) AS released,
        given.id, given.version, given.stock, given.modified_at
    FROM (SELECT) AS outcome LEFT JOIN given ON true
    """
).bindparams(bindparam("order_id", type_=Uuid))


async def release(connection: AsyncConnection, order_id: uuid.UUID) -> Release:
    """Give back what the order reserved, once, in one statement (see `Release`)."""
    rows = (await connection.execute(_RELEASE, {"order_id": order_id})).all()
    given = [LiveState(*row[2:]) for row in rows if row.id is not None]
    return Release(released=rows[0].released, settled=rows[0].settled, given=given)
