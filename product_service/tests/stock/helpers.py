"""Calls and database reads the stock tests share."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

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


@contextmanager
def statements_sent(app: FastAPI) -> Iterator[list[str]]:
    """The statements the app's engine sends meanwhile, one per server round of an
    executemany (so a loop over the items counts once per item)."""
    sent: list[str] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        rounds = len(parameters) if executemany else 1
        sent.extend([statement.split(None, 1)[0].upper()] * rounds)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@asynccontextmanager
async def product_locked(engine: AsyncEngine, product: dict[str, Any]) -> AsyncIterator[None]:
    """Hold the product's row lock (as a concurrent reserve would) until the block ends."""
    async with engine.connect() as blocker:
        lock = text("SELECT 1 FROM products WHERE id = :id FOR UPDATE")
        await blocker.execute(lock, {"id": uuid.UUID(product["id"])})
        yield
        await blocker.rollback()


async def until_waiting_for_locks(engine: AsyncEngine, count: int) -> None:
    """Return once `count` sessions of this database wait for a lock (poll, 10 s at most)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = asyncio.get_running_loop().time() + 10
    async with engine.connect() as conn:
        while (await conn.scalar(query)) != count:
            assert asyncio.get_running_loop().time() < deadline, f"never {count} waiting"
            await asyncio.sleep(0.02)
            await conn.rollback()
