"""The one-statement steps of a create and the reads: what each writes, all or nothing, and
how a database that fails one of them is answered (503, nothing half-written)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from order_service.context import OrderContext
from order_service.models import IdempotencyKey, Order
from order_service.reconciler import reconcile_once
from shop_common.testing.fixtures import app_client

from .conftest import (
    ORDERS,
    key_count,
    orders_by_status,
    pending_order,
    place,
    stored_order,
    straggling_confirm,
)
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]
# Short enough for a test to wait for, long enough for a quiet statement on a busy machine.
STATEMENT_TIMEOUT = {"db_statement_timeout_seconds": 1.0}


def keyed(user: User, key: str = "key-1") -> dict[str, str]:
    return {**user[1], "Idempotency-Key": key}


async def stored_key(db: AsyncSession) -> IdempotencyKey:
    db.expire_all()
    [key] = (await db.scalars(select(IdempotencyKey))).all()
    return key


@asynccontextmanager
async def holding(engine: AsyncEngine, statement: str, **parameters: Any) -> AsyncIterator[None]:
    """Run `statement` (a lock) in a transaction of its own, held until the block ends."""
    async with engine.connect() as locker, locker.begin():
        await locker.execute(text(statement), parameters)
        yield


async def test_a_keyed_create_saves_its_answer_with_the_confirmed_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(price=2500, stock=5)
    created = await place(client, keyed(ada), lamp, 2)
    assert created.status_code == 201
    data = created.json()["data"]
    key = await stored_key(db)
    assert (key.response_status, key.response_body) == (201, data)
    assert key.order_id == uuid.UUID(data["id"])
    order = await stored_order(db, key.order_id)
    assert (order.status, order.total) == ("confirmed", 5000)
    assert [(i.name, i.unit_price, i.quantity) for i in order.items] == [("Lamp", 2500, 2)]
    detail = await client.get(f"{ORDERS}{data['id']}/", headers=ada[1])
    assert detail.json()["data"] == data


async def test_an_expired_key_is_taken_over_by_the_new_order_and_replays_it(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    first = (await place(client, keyed(ada), lamp)).json()["data"]["id"]
    yesterday = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    await db.execute(update(IdempotencyKey).values(created_at=yesterday))
    await db.commit()
    # Another body is no reuse once the key has expired: it is a new request.
    second = await place(client, keyed(ada), lamp, 2)
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    replayed = await place(client, keyed(ada), lamp, 2)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == second.json()
    key = await stored_key(db)
    assert str(key.order_id) == second.json()["data"]["id"] != first
    assert key.created_at > yesterday
    assert await orders_by_status(db) == {"confirmed": 2}
    assert products.stock(lamp) == 2


async def test_a_refused_confirm_writes_neither_the_snapshot_nor_the_answer(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await pending_order(ctx, ada[0], lamp, 2, key="key-1")
    await db.execute(
        update(Order).where(Order.id == order_id).values(delete_requested_at=datetime.now(UTC))
    )
    await db.commit()
    reservation = await ctx.products.reserve(order_id, [(lamp, 2)])
    assert await straggling_confirm(ctx, ada[0], order_id, reservation) is None
    order = await stored_order(db, order_id)
    assert (order.status, order.total) == ("pending", 0)
    assert [(i.name, i.unit_price) for i in order.items] == [("", 0)]
    key = await stored_key(db)
    assert (key.order_id, key.response_status, key.response_body) == (order_id, None, None)


async def test_a_create_past_the_statement_timeout_is_503_and_writes_nothing(
    make_app: Callable[..., FastAPI],
    engine: AsyncEngine,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    async with app_client(make_app(**STATEMENT_TIMEOUT)) as client:
        async with holding(engine, "LOCK TABLE idempotency_keys IN EXCLUSIVE MODE"):
            refused = await place(client, keyed(ada), lamp)
        assert refused.status_code == 503
        assert refused.json()["code"] == "database_unavailable"
        assert (await orders_by_status(db), await key_count(db)) == ({}, 0)
        assert products.stock(lamp) == 5
        retried = await place(client, keyed(ada), lamp)
    assert retried.status_code == 201
    assert await orders_by_status(db) == {"confirmed": 1}


async def test_a_confirm_past_the_statement_timeout_is_503_and_left_to_the_reconciler(
    make_app: Callable[..., FastAPI],
    engine: AsyncEngine,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    products.delays["reserve"] = 0.5
    app = make_app(**STATEMENT_TIMEOUT)
    async with app_client(app) as client:
        creating = asyncio.create_task(place(client, keyed(ada), lamp, 2))
        await products.arrived["reserve"].wait()
        # The pending row is written; every order row is now locked until the confirm
        # that follows the reserve has given up.
        async with holding(engine, "LOCK TABLE orders IN EXCLUSIVE MODE"):
            refused = await creating
        assert refused.status_code == 503
        assert refused.json()["code"] == "database_unavailable"
        order_id = await db.scalar(select(Order.id))
        assert order_id is not None
        order = await stored_order(db, order_id)
        assert (order.status, [i.unit_price for i in order.items]) == ("pending", [0])
        assert (await stored_key(db)).response_status is None
        later = datetime.now(UTC) + timedelta(minutes=5)
        report = await reconcile_once(app.state.orders, now=later)
    assert report.released == [order_id]
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert (await key_count(db), products.stock(lamp)) == (0, 5)


async def test_a_connection_the_server_dropped_is_503_and_the_next_request_is_served(
    app: FastAPI, client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    assert (await place(client, ada[1], lamp)).status_code == 201
    await db.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = :name "
            "AND pid <> pg_backend_pid()"
        ),
        {"name": app.state.orders.settings.service_name},
    )
    await db.commit()
    dropped = await client.get(ORDERS, headers=ada[1])
    assert dropped.status_code == 503
    assert dropped.json()["code"] == "database_unavailable"
    again = await client.get(ORDERS, headers=ada[1])
    assert again.status_code == 200
    assert again.json()["count"] == 1


async def test_a_keyed_create_and_a_detail_are_one_statement_a_step(
    app: FastAPI, client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=10)
    await place(client, ada[1], lamp)  # warm: the token is cached from here on
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]).split()[0])

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        placed = await place(client, keyed(ada), lamp)
        placing = list(statements)
        statements.clear()
        detail = await client.get(f"{ORDERS}{placed.json()['data']['id']}/", headers=ada[1])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert placed.status_code == 201
    assert placing == ["WITH", "WITH"]
    assert detail.status_code == 200
    assert detail.json()["data"] == placed.json()["data"]
    assert statements == ["SELECT"]
