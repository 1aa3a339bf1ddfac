"""The create saga under product-service faults: 503, never a lost unit of stock."""

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.config import Settings
from order_service.context import OrderContext
from order_service.main import create_app
from order_service.models import Order
from order_service.reconciler import reconcile_once
from shop_common.testing.fixtures import app_client
from shop_contracts.testing import FakeUserService

from .conftest import ORDERS, orders_by_status, place
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


def orders_total(status: str) -> float:
    value = REGISTRY.get_sample_value("orders_total", {"service": "order", "status": status})
    return value or 0.0


async def test_unreachable_product_service_is_503_with_no_order_confirmed(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    for operation in ("reserve", "release"):
        products.faults[operation] = httpx.ConnectError("refused")
    response = await place(client, ada[1], lamp)
    assert response.status_code == 503
    assert response.json()["code"] == "product_service_unavailable"
    assert products.stock(lamp) == 5
    # The release failed too: the order waits, pending, for the reconciler.
    assert await orders_by_status(db) == {"pending": 1}


async def test_unreachable_reserve_with_a_working_release_withdraws_the_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    products.faults["reserve"] = httpx.ConnectError("refused")
    assert (await place(client, ada[1], lamp)).status_code == 503
    assert products.count("reserve") == 3  # idempotent, so retried
    assert products.count("release") == 1
    assert await orders_by_status(db) == {"cancelled": 1}
    assert products.stock(lamp) == 5
    listed = (await client.get(ORDERS, headers=ada[1])).json()
    assert (listed["count"], listed["results"]) == (0, [])  # "no order kept"


async def test_reserve_that_times_out_after_taking_stock_is_released_at_once(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    products.lose_answer.add("reserve")
    response = await place(client, ada[1], lamp, 2)
    assert response.status_code == 503
    assert products.count("reserve") == 3
    assert products.effective_releases() == 1
    assert products.stock(lamp) == 5
    assert await orders_by_status(db) == {"cancelled": 1}


async def test_reserve_that_times_out_with_release_down_is_released_by_the_reconciler(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    products.lose_answer.add("reserve")
    products.faults["release"] = httpx.ConnectError("refused")
    assert (await place(client, ada[1], lamp, 2)).status_code == 503
    assert products.stock(lamp) == 3
    assert await orders_by_status(db) == {"pending": 1}
    del products.faults["release"]
    report = await reconcile_once(ctx, now=datetime.now(UTC) + timedelta(seconds=31))
    assert len(report.released) == 1
    assert products.stock(lamp) == 5
    assert await orders_by_status(db) == {"cancelled": 1}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_from_reserve_are_retried_then_503(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession, status: int
) -> None:
    lamp = products.add(stock=5)
    products.faults["reserve"] = status
    response = await place(client, ada[1], lamp)
    assert response.status_code == 503
    assert products.count("reserve") == 3
    assert await orders_by_status(db) == {"cancelled": 1}


async def test_a_refused_secret_is_503_not_the_users_fault(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    products.faults["reserve"] = 403
    response = await place(client, ada[1], lamp)
    assert response.status_code == 503
    assert response.json()["code"] == "product_service_unavailable"
    assert await orders_by_status(db) == {"cancelled": 1}


async def test_a_reservation_of_something_else_is_released_and_503(
    make_settings: Callable[..., Settings], users: FakeUserService, ada: User, db: AsyncSession
) -> None:
    lamp = uuid.uuid4()
    released: list[str] = []

    def wrong_quantity(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/release/"):
            released.append(body["order_id"])
            return httpx.Response(200, json={"data": {**body, "released": True}})
        item = {"product_id": str(lamp), "name": "Lamp", "unit_price": 1, "quantity": 7}
        return httpx.Response(200, json={"data": {**body, "items": [item]}})

    app = create_app(
        make_settings(),
        user_transport=users.transport(),
        product_transport=httpx.MockTransport(wrong_quantity),
    )
    async with app_client(app) as client:
        response = await place(client, ada[1], lamp, 2)
    assert response.status_code == 503
    order = (await db.scalars(select(Order))).one()
    assert released == [str(order.id)]
    assert order.status == "cancelled"


async def test_an_order_reconciled_while_reserving_gives_its_stock_back(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    products.delays["reserve"] = 0.5  # the reconciler's release lands before the reserve
    create = asyncio.create_task(place(client, ada[1], lamp, 2))
    await asyncio.wait_for(products.arrived["reserve"].wait(), timeout=5)
    report = await reconcile_once(ctx, now=datetime.now(UTC) + timedelta(seconds=60))
    assert len(report.released) == 1
    response = await create
    assert response.status_code == 503
    assert response.json()["code"] == "order_expired"
    assert products.stock(lamp) == 5
    assert await orders_by_status(db) == {"cancelled": 1}


async def test_orders_total_counts_each_status_reached(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    before = {s: orders_total(s) for s in ("pending", "confirmed", "failed", "cancelled")}
    lamp = products.add(stock=1)
    confirmed = await place(client, ada[1], lamp)
    await place(client, ada[1], lamp)
    await client.delete(f"/api/v1/order/{confirmed.json()['data']['id']}/", headers=ada[1])
    after = {s: orders_total(s) for s in before}
    assert {s: after[s] - before[s] for s in before} == {
        "pending": 2,
        "confirmed": 1,
        "failed": 1,
        "cancelled": 1,
    }


async def test_a_refusal_after_a_lost_attempt_gives_the_first_attempts_stock_back(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    """The first reserve took the stock but its answer was lost; the retry, racing stock that
    moved meanwhile, was refused. The refusal proves nothing about the first attempt: its
    stock must go back before the order is failed (found by the fault suite, product_kill)."""
    lamp = products.add(stock=5)
    products.scripted["reserve"] = ["lose", "refuse"]
    response = await place(client, ada[1], lamp, 2)
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert products.count("release") == 1
    assert products.stock(lamp) == 5
    listed = (await client.get(ORDERS, headers=ada[1])).json()["results"]
    assert [order["status"] for order in listed] == ["failed"]
