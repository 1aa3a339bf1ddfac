"""Rules of stock reservations. Raises `AppError`s; flushes, never commits.

Each call runs in the request's one transaction: a reserve that fails (unknown product,
short stock) rolls back whole, its reservation row included, and takes nothing.

Neither drops a cached product: each records the new stock and version of what it
changed in the cache's live part after its commit (see `catalogue.cache`).
"""

import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.cache import ProductCache
from product_service.errors import InsufficientStock, ProductNotFound, ReservationReleased
from product_service.metrics import count_reservation
from product_service.stock import repository
from shop_contracts.product import ReservationRead, ReservedItem, ReserveRequest

__all__ = ["release", "reserve"]


async def reserve(
    session: AsyncSession, cache: ProductCache, *, data: ReserveRequest
) -> ReservationRead:
    """Take every item's quantity or nothing; a repeat for the order returns the first answer."""
    wanted = _merge(data)
    if not await repository.claim_reservation(session, data.order_id):
        return await _replay(session, data.order_id)
    attempt = await repository.take_stock(session, data.order_id, wanted)
    taken = attempt.taken
    if len(taken) < len(wanted):
        _refuse(wanted, attempt)
    cache.record(session, [t.live for t in taken.values()])
    items = [
        ReservedItem(
            product_id=pid, name=taken[pid].name, unit_price=taken[pid].price, quantity=qty
        )
        for pid, qty in wanted.items()
    ]
    count_reservation("reserved")
    return ReservationRead(order_id=data.order_id, items=items)


def _merge(data: ReserveRequest) -> dict[uuid.UUID, int]:
    """Quantities per product, lines for one product summed, in first-appearance order."""
    wanted: dict[uuid.UUID, int] = {}
    for item in data.items:
        wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
    return wanted


def _refuse(wanted: Mapping[uuid.UUID, int], attempt: repository.Attempt) -> None:
    """Raise 404 for unknown products, else 409 for every short one (`available` is the
    stock each had when `take_stock` locked it; the raise rolls back what it took)."""
    left = [pid for pid in wanted if pid not in attempt.taken]
    missing = [pid for pid in left if pid not in attempt.available]
    if missing:
        count_reservation("not_found")
        raise ProductNotFound(
            "Unknown product" + ("s" if len(missing) > 1 else ""),
            details=[{"product_id": str(pid)} for pid in missing],
        )
    count_reservation("insufficient_stock")
    raise InsufficientStock(
        details=[
            {"product_id": str(pid), "requested": wanted[pid], "available": attempt.available[pid]}
            for pid in left
        ]
    )


async def _replay(session: AsyncSession, order_id: uuid.UUID) -> ReservationRead:
    reservation = await repository.lock_reservation(session, order_id)
    if reservation is None or reservation.released_at is not None:
        # Released (or released before anything was reserved): taking stock now would
        # leave it held by an order that has already given its stock back.
        raise ReservationReleased()
    rows = await repository.get_items(session, order_id)
    count_reservation("replayed")
    return ReservationRead(
        order_id=order_id,
        items=[ReservedItem.model_validate(row, from_attributes=True) for row in rows],
    )


async def release(session: AsyncSession, cache: ProductCache, *, order_id: uuid.UUID) -> bool:
    """Give back what the order reserved; True only for the call that did it."""
    if await repository.claim_reservation(session, order_id, released=True):
        return False  # nothing was reserved; the released row stops a late reserve
    if not await repository.mark_released(session, order_id):
        return False
    cache.record(session, await repository.give_back(session, order_id))
    count_reservation("released")
    return True
