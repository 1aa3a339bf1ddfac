"""Orders through the real user and product apps: stock taken, replayed, given back once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.context import OrderContext
from order_service.reconciler import reconcile_once
from shop_common.testing.fixtures import app_client

from ..conftest import ORDERS, orders_by_status, pending_order, stored_order
from .conftest import System, create_product, held_reservations, register, stock_of


async def test_an_order_snapshots_the_product_and_its_delete_restores_the_stock(
    system: System, db: AsyncSession
) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=5, price=2500)
    created = await system.orders.post(
        ORDERS, json={"product_id": str(lamp), "quantity": 2}, headers=ada
    )
    assert created.status_code == 201
    order = created.json()["data"]
    product = (await system.products.get(f"/api/v1/product/{lamp}/")).json()["data"]
    assert order["items"] == [
        {"product_id": str(lamp), "name": product["name"], "unit_price": 2500, "quantity": 2}
    ]
    assert (order["status"], order["total"]) == ("confirmed", 5000)
    assert await stock_of(system, lamp) == 3
    deleted = await system.orders.delete(f"{ORDERS}{order['id']}/", headers=ada)
    assert deleted.status_code == 200
    assert await stock_of(system, lamp) == 5
    assert (await system.orders.get(f"{ORDERS}{order['id']}/", headers=ada)).status_code == 404
    assert (await stored_order(db, uuid.UUID(order["id"]))).status == "cancelled"
    assert await held_reservations(system) == 0


async def test_a_replayed_key_takes_no_more_stock(system: System, db: AsyncSession) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=5)
    headers = {**ada, "Idempotency-Key": "order-1"}
    body = {"product_id": str(lamp), "quantity": 2}
    first = await system.orders.post(ORDERS, json=body, headers=headers)
    again = await system.orders.post(ORDERS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    reused = await system.orders.post(ORDERS, json={**body, "quantity": 1}, headers=headers)
    assert reused.json()["code"] == "idempotency_key_reused"
    assert await stock_of(system, lamp) == 3
    assert await orders_by_status(db) == {"confirmed": 1}


async def test_unknown_product_and_short_stock_come_back_in_the_envelope(
    system: System, db: AsyncSession
) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=3)
    unknown = await system.orders.post(ORDERS, json={"product_id": str(uuid.uuid4())}, headers=ada)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "product_not_found")
    short = await system.orders.post(
        ORDERS, json={"product_id": str(lamp), "quantity": 4}, headers=ada
    )
    assert short.status_code == 409
    assert short.json()["details"] == [{"product_id": str(lamp), "requested": 4, "available": 3}]
    assert await stock_of(system, lamp) == 3
    assert await orders_by_status(db) == {"failed": 2}


async def test_concurrent_deletes_give_the_stock_back_exactly_once(
    system: System, db: AsyncSession
) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=10)
    created = await system.orders.post(
        ORDERS, json={"product_id": str(lamp), "quantity": 4}, headers=ada
    )
    order_id = created.json()["data"]["id"]
    responses = await asyncio.gather(
        *(system.orders.delete(f"{ORDERS}{order_id}/", headers=ada) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] + [404] * 9
    assert await stock_of(system, lamp) == 10
    assert await held_reservations(system) == 0


class LosesReserveAnswers(httpx.AsyncBaseTransport):
    """The product service reserves, then its answer never arrives (a timeout)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/stock/reserve/"):
            await response.aread()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


async def test_a_reserve_whose_answer_is_lost_gives_the_stock_back(
    system: System, db: AsyncSession
) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=5)
    app = system.make_order_app(LosesReserveAnswers(system.product_transport))
    async with app_client(app) as orders:
        response = await orders.post(
            ORDERS, json={"product_id": str(lamp), "quantity": 2}, headers=ada
        )
    assert response.status_code == 503
    assert await stock_of(system, lamp) == 5
    assert await orders_by_status(db) == {"cancelled": 1}


async def test_the_reconciler_gives_back_the_stock_of_a_crashed_create(
    system: System, db: AsyncSession
) -> None:
    ada = await register(system, "ada")
    lamp = await create_product(system, ada, stock=5)
    ctx: OrderContext = system.order_app.state.orders
    profile = (await system.users.get("/api/v1/profile/", headers=ada)).json()["data"]
    order_id = await pending_order(ctx, uuid.UUID(profile["id"]), lamp, 3)
    await ctx.products.reserve(order_id, [(lamp, 3)])  # then the process died
    assert await stock_of(system, lamp) == 2
    grace = ctx.settings.reconcile_grace_seconds
    report = await reconcile_once(ctx, now=datetime.now(UTC) + timedelta(seconds=grace + 1))
    assert report.released == [order_id]
    assert await stock_of(system, lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"
    late = await ctx.products.release(order_id)
    assert late.released is False


async def test_a_token_the_user_service_refuses_is_401(system: System) -> None:
    response = await system.orders.get(ORDERS, headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
