"""Rules of stock reservations. Raises `AppError`s.

Each step is one statement on an autocommit connection of the service's pool (see
`repository`): a reserve that takes stock commits with its one round trip; one that does
not (unknown product, short stock, a repeat) takes nothing and leaves no row, and only then
reads the order's reservation in a second statement.

Neither drops a cached product: each records the new stock and version of what it changed
in the cache's live part once committed, before the response (see `catalogue.cache`).
"""

import uuid
from collections.abc import Mapping
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncConnection

from product_service.catalogue.cache import ProductCache
from product_service.errors import InsufficientStock, ProductNotFound, ReservationReleased
from product_service.metrics import count_reservation
from product_service.stock import repository
from shop_common.db import Database
from shop_common.errors import DatabaseUnavailable
from shop_contracts.product import ReservationRead, ReservedItem, ReserveRequest

__all__ = ["release", "reserve"]

# A release statement that met a reservation committed during it runs again, and the next
# one sees it; a third run would mean rows that come and go, which none here do.
_RELEASE_RUNS = 2


async def reserve(
    database: Database, cache: ProductCache, *, data: ReserveRequest
) -> ReservationRead:
    """Take every item's quantity or nothing; a repeat for the order returns the first answer."""
    wanted = _merge(data)
    async with database.connection() as connection:
        attempt = await repository.take_stock(connection, data.order_id, wanted)
        if not attempt.taken:
            return await _not_taken(connection, data.order_id, wanted, attempt)
    taken = attempt.taken
    await cache.record_now([t.live for t in taken.values()])
    count_reservation("reserved")
    return ReservationRead(
        order_id=data.order_id,
        items=[
            ReservedItem(
                product_id=pid, name=taken[pid].name, unit_price=taken[pid].price, quantity=qty
            )
            for pid, qty in wanted.items()
        ],
    )


def _merge(data: ReserveRequest) -> dict[uuid.UUID, int]:
    """Quantities per product, lines for one product summed, in first-appearance order."""
    wanted: dict[uuid.UUID, int] = {}
    for item in data.items:
        wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
    return wanted


async def _not_taken(
    connection: AsyncConnection,
    order_id: uuid.UUID,
    wanted: Mapping[uuid.UUID, int],
    attempt: repository.Attempt,
) -> ReservationRead:
    """The answer of a reserve that took nothing: the order's reservation when it has one
    (a repeat, or a same-order reserve that committed while this one waited for its locks,
    taking the stock it then found short), else the refusal."""
    stored = await repository.get_reservation(connection, order_id)
    if stored is None:
        _refuse(wanted, attempt)
    if stored.released:
        # Released (or released before anything was reserved): taking stock now would
        # leave it held by an order that has already given its stock back.
        raise ReservationReleased()
    count_reservation("replayed")
    return ReservationRead(
        order_id=order_id,
        items=[ReservedItem.model_validate(item, from_attributes=True) for item in stored.items],
    )


def _refuse(wanted: Mapping[uuid.UUID, int], attempt: repository.Attempt) -> NoReturn:
    """Raise 404 for unknown products, else 409 for every short one (`available` is the
    stock each had when the reserve locked it)."""
    available = attempt.available
    missing = [pid for pid in wanted if pid not in available]
    if missing:
        count_reservation("not_found")
        raise ProductNotFound(
            "Unknown product" + ("s" if len(missing) > 1 else ""),
            details=[{"product_id": str(pid)} for pid in missing],
        )
    count_reservation("insufficient_stock")
    raise InsufficientStock(
        details=[
            {"product_id": str(pid), "requested": qty, "available": available[pid]}
            for pid, qty in wanted.items()
            if available[pid] < qty
        ]
    )


async def release(database: Database, cache: ProductCache, *, order_id: uuid.UUID) -> bool:
    """Give back what the order reserved; True only for the call that did it."""
    async with database.connection() as connection:
        for _ in range(_RELEASE_RUNS):
            outcome = await repository.release(connection, order_id)
            if outcome.settled:
                break
        else:
            raise DatabaseUnavailable(headers={"Retry-After": "5"})
    if not outcome.released:
        return False  # released already, or nothing was reserved (the row now says released)
    await cache.record_now(outcome.given)
    count_reservation("released")
    return True
