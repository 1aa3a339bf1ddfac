"""Rules of stock reservations. Raises `AppError`s; flushes, never commits.

Each call runs in the request's one transaction: a reserve that fails (unknown product,
short stock) rolls back whole, its reservation row included, and takes nothing.
"""

import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from product_service.catalogue.cache import ProductCache
from product_service.errors import InsufficientStock, ProductNotFound, ReservationReleased
from product_service.metrics import count_reservation
from product_service.stock import repository
from product_service.stock.repository import StockRow
from shop_contracts.product import ReservationRead, ReservedItem, ReserveRequest

__all__ = ["release", "reserve"]


async def reserve(
    session: AsyncSession, cache: ProductCache, *, data: ReserveRequest
) -> ReservationRead:
    """Take every item's quantity or nothing; a repeat for the order returns the first answer."""
    wanted = _merge(data)
    if not await repository.claim_reservation(session, data.order_id):
        return await _replay(session, data.order_id)
    await cache.invalidate(session, wanted)
    locked = {row.id: row for row in await repository.lock_products(session, list(wanted))}
    _check_all_exist(wanted, locked)
    _check_enough_stock(wanted, locked)
    await repository.move_stock(session, {pid: -qty for pid, qty in wanted.items()})
    items = [
        ReservedItem(
            product_id=pid, name=locked[pid].name, unit_price=locked[pid].price, quantity=qty
        )
        for pid, qty in wanted.items()
    ]
    await repository.add_items(session, data.order_id, items)
    count_reservation("reserved")
    return ReservationRead(order_id=data.order_id, items=items)


def _merge(data: ReserveRequest) -> dict[uuid.UUID, int]:
    """Quantities per product, lines for one product summed, in first-appearance order."""
    wanted: dict[uuid.UUID, int] = {}
    for item in data.items:
        wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
    return wanted


def _check_all_exist(wanted: Mapping[uuid.UUID, int], locked: Mapping[uuid.UUID, StockRow]) -> None:
    missing = [pid for pid in wanted if pid not in locked]
    if missing:
        count_reservation("not_found")
        raise ProductNotFound(
            "Unknown product" + ("s" if len(missing) > 1 else ""),
            details=[{"product_id": str(pid)} for pid in missing],
        )


def _check_enough_stock(
    wanted: Mapping[uuid.UUID, int], locked: Mapping[uuid.UUID, StockRow]
) -> None:
    short = [
        {"product_id": str(pid), "requested": qty, "available": locked[pid].stock}
        for pid, qty in wanted.items()
        if qty > locked[pid].stock
    ]
    if short:
        count_reservation("insufficient_stock")
        raise InsufficientStock(details=short)


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
    reservation = await repository.lock_reservation(session, order_id)
    if reservation is None or reservation.released_at is not None:
        return False
    items = await repository.get_items(session, order_id)
    quantities = {item.product_id: item.quantity for item in items}
    await cache.invalidate(session, quantities)
    await repository.move_stock(session, quantities)  # deleted products are skipped
    await repository.mark_released(session, reservation)
    count_reservation("released")
    return True
