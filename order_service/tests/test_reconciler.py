"""The reconciler: abandoned pending orders and interrupted deletes give their stock back."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from order_service.context import OrderContext
from order_service.models import IdempotencyKey, Order
from order_service.reconciler import ADVISORY_LOCK_KEY, reconcile_once
from shop_common.testing.fixtures import app_client

from .conftest import (
    key_count,
    orders_by_status,
    pending_order,
    placed_id,
    stored_order,
    straggling_confirm,
)
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


def later(seconds: float = 31) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def reconciled(outcome: str) -> float:
    labels = {"service": "order", "outcome": outcome}
    return REGISTRY.get_sample_value("orders_reconciled_total", labels) or 0.0


async def crashed_after_reserve(
    ctx: OrderContext, user: User, product_id: uuid.UUID, quantity: int = 1
) -> uuid.UUID:
    order_id = await pending_order(ctx, user[0], product_id, quantity)
    await ctx.products.reserve(order_id, [(product_id, quantity)])
    return order_id


async def test_a_pending_order_left_by_a_crash_is_released_and_withdrawn(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await crashed_after_reserve(ctx, ada, lamp, 2)
    assert products.stock(lamp) == 3
    before = reconciled("released")
    report = await reconcile_once(ctx, now=later())
    assert report.released == [order_id]
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert reconciled("released") - before == 1


async def test_a_pending_order_that_never_reserved_is_withdrawn_too(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await pending_order(ctx, ada[0], lamp)
    await reconcile_once(ctx, now=later())
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert products.stock(lamp) == 5


async def test_orders_within_the_grace_period_are_left_alone(
    client: httpx.AsyncClient, ctx: OrderContext, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    await crashed_after_reserve(ctx, ada, lamp)
    await placed_id(client, ada[1], lamp)
    report = await reconcile_once(ctx, now=later(29))
    assert (report.released, report.errors, report.skipped) == ([], [], False)
    assert products.count("release") == 0


async def test_confirmed_and_failed_orders_are_never_touched(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=1)
    await placed_id(client, ada[1], lamp)
    await client.post("/api/v1/order/", json={"product_id": str(lamp)}, headers=ada[1])
    await reconcile_once(ctx, now=later(3600))
    assert products.count("release") == 0
    assert await orders_by_status(db) == {"confirmed": 1, "failed": 1}


async def test_a_failed_release_is_counted_and_retried_a_grace_period_later(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await crashed_after_reserve(ctx, ada, lamp)
    products.faults["release"] = httpx.ConnectError("refused")
    before = reconciled("error")
    first = await reconcile_once(ctx, now=later())
    assert first.errors == [order_id]
    assert reconciled("error") - before == 1
    assert (await stored_order(db, order_id)).status == "pending"
    del products.faults["release"]
    assert (await reconcile_once(ctx, now=later())).released == []  # claimed: not yet again
    assert (await reconcile_once(ctx, now=later(62))).released == [order_id]
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"


async def test_an_interrupted_delete_is_finished(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp, 2)
    await db.execute(update(Order).values(delete_requested_at=datetime.now(UTC)))
    await db.commit()
    report = await reconcile_once(ctx, now=later())
    assert report.released == [order_id]
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"


async def test_the_key_of_an_abandoned_order_is_freed(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    await pending_order(ctx, ada[0], lamp, key="key-1")
    assert await key_count(db) == 1
    await reconcile_once(ctx, now=later())
    assert await key_count(db) == 0


async def test_expired_keys_are_purged(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    headers = {**ada[1], "Idempotency-Key": "key-1"}
    await client.post("/api/v1/order/", json={"product_id": str(lamp)}, headers=headers)
    await reconcile_once(ctx, now=later(3600))
    assert await key_count(db) == 1
    yesterday = datetime.now(UTC) - timedelta(hours=25)
    await db.execute(update(IdempotencyKey).values(created_at=yesterday))
    await db.commit()
    await reconcile_once(ctx)
    assert await key_count(db) == 0


async def test_a_round_is_skipped_while_another_replica_holds_the_lock(
    ctx: OrderContext, engine: AsyncEngine, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    await crashed_after_reserve(ctx, ada, lamp)
    async with engine.connect() as other_replica:
        await other_replica.execute(
            text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        report = await reconcile_once(ctx, now=later())
        await other_replica.execute(
            text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
    assert report.skipped
    assert products.count("release") == 0
    assert (await reconcile_once(ctx, now=later())).released != []


async def test_concurrent_rounds_release_each_order_once(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=20)
    for _ in range(10):
        await crashed_after_reserve(ctx, ada, lamp)
    products.delays["release"] = 0.01
    reports = await asyncio.gather(*(reconcile_once(ctx, now=later()) for _ in range(4)))
    assert sum(len(r.released) for r in reports) == 10
    assert products.count("release") == 10
    assert products.stock(lamp) == 20
    assert await orders_by_status(db) == {"cancelled": 10}


async def test_the_reconciler_runs_in_the_background_of_the_app(
    make_app: Callable[..., FastAPI], products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    app = make_app(
        reconciler_enabled=True,
        reconcile_interval_seconds=0.05,
        reconcile_grace_seconds=0.2,
        internal_timeout_seconds=0.01,
    )
    async with app_client(app):
        order_id = await crashed_after_reserve(app.state.orders, ada, lamp)
        for _ in range(100):
            if (await stored_order(db, order_id)).status == "cancelled":
                break
            await asyncio.sleep(0.05)
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert products.stock(lamp) == 5


async def test_an_order_the_reconciler_has_claimed_can_no_longer_be_confirmed(
    ctx: OrderContext, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    # A create step slower than the grace period must not confirm an order whose stock
    # the reconciler is giving back (that would confirm an order holding no stock).
    lamp = products.add(stock=3)
    order_id = await crashed_after_reserve(ctx, ada, lamp, 3)
    products.faults["release"] = 503
    report = await reconcile_once(ctx, now=later())
    assert report.errors == [order_id]
    reservation = await ctx.products.reserve(order_id, [(lamp, 3)])
    assert await straggling_confirm(ctx, ada[0], order_id, reservation) is None
    assert (await stored_order(db, order_id)).status == "pending"
    del products.faults["release"]
    report = await reconcile_once(ctx, now=later(62))
    assert report.released == [order_id]
    assert products.stock(lamp) == 3
    db.expire_all()
    assert (await stored_order(db, order_id)).status == "cancelled"
