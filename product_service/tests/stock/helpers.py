"""Calls and database reads the stock tests share."""

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.models import Reservation, ReservationItem

from ..conftest import existing_product, internal


async def reserve(
    client: httpx.AsyncClient, order_id: uuid.UUID, items: list[tuple[str, int]]
) -> httpx.Response:
    body = {
        "order_id": str(order_id),
        "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
    }
    return await client.post("/internal/v1/stock/reserve/", json=body, headers=internal())


async def release(client: httpx.AsyncClient, order_id: uuid.UUID) -> httpx.Response:
    return await client.post(
        "/internal/v1/stock/release/", json={"order_id": str(order_id)}, headers=internal()
    )


async def stock_of(db: AsyncSession, product: dict[str, Any]) -> int:
    return (await existing_product(db, product["id"])).stock


async def reservation_of(db: AsyncSession, order_id: uuid.UUID) -> Reservation | None:
    return await db.get(Reservation, order_id, populate_existing=True)


async def lines_of(db: AsyncSession, order_id: uuid.UUID) -> list[tuple[str, str, int, int]]:
    """The stored lines as (product_id, name, unit_price, quantity), in line order."""
    result = await db.execute(
        select(ReservationItem)
        .where(ReservationItem.order_id == order_id)
        .order_by(ReservationItem.line)
        .execution_options(populate_existing=True)
    )
    return [(str(i.product_id), i.name, i.unit_price, i.quantity) for i in result.scalars()]
