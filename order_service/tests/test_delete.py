"""DELETE /api/v1/order/{id}/: the stock goes back once, then the order is gone for its owner."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.context import OrderContext
from order_service.models import Order
from shop_common.testing.fixtures import app_client

from .conftest import ORDERS, age, pending_order, place, placed_id, stored_order
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


async def test_delete_releases_the_stock_and_cancels_the_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp, 2)
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 200
    assert response.json() == {"message": "Order deleted successfully"}
    assert products.stock(lamp) == 5
    stored = await stored_order(db, order_id)
    assert stored.status == "cancelled"
    assert stored.delete_requested_at is not None


async def test_deleted_order_is_404_on_read_and_second_delete_and_absent_from_lists(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    kept = await placed_id(client, ada[1], lamp)
    gone = await placed_id(client, ada[1], lamp)
    assert (await client.delete(f"{ORDERS}{gone}", headers=ada[1])).status_code == 200
    assert (await client.get(f"{ORDERS}{gone}/", headers=ada[1])).status_code == 404
    second = await client.delete(f"{ORDERS}{gone}/", headers=ada[1])
    assert second.status_code == 404
    assert second.json()["code"] == "order_not_found"
    for params in ({}, {"status": "confirmed"}):
        listed = (await client.get(ORDERS, params=params, headers=ada[1])).json()
        assert [o["id"] for o in listed["results"]] == [str(kept)]
        assert listed["count"] == 1
    assert products.count("release") == 1
    assert products.stock(lamp) == 4


async def test_deleting_someone_elses_order_is_404_and_changes_nothing(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, bob: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    response = await client.delete(f"{ORDERS}{order_id}/", headers=bob[1])
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"
    assert (await stored_order(db, order_id)).status == "confirmed"
    assert products.count("release") == 0
    assert products.stock(lamp) == 4


async def test_delete_of_an_unknown_or_malformed_id(client: httpx.AsyncClient, ada: User) -> None:
    assert (await client.delete(f"{ORDERS}{uuid.uuid4()}/", headers=ada[1])).status_code == 404
    response = await client.delete(f"{ORDERS}nope/", headers=ada[1])
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["path", "id"]


async def test_delete_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"{ORDERS}{uuid.uuid4()}/")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "fault", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 500, 403]
)
async def test_delete_with_the_product_service_down_is_503_and_the_order_stays(
    client: httpx.AsyncClient,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
    fault: Exception | int,
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    products.faults["release"] = fault
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 503
    assert response.json()["code"] == "product_service_unavailable"
    stored = await stored_order(db, order_id)
    assert (stored.status, stored.delete_requested_at) == ("confirmed", None)
    assert products.stock(lamp) == 4
    read = await client.get(f"{ORDERS}{order_id}/", headers=ada[1])
    assert read.json()["data"]["status"] == "confirmed"


async def test_delete_succeeds_once_the_product_service_is_back(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    products.faults["release"] = httpx.ConnectError("refused")
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 503
    del products.faults["release"]
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 200
    assert products.stock(lamp) == 5


async def test_concurrent_deletes_release_the_stock_exactly_once(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp, 3)
    products.delays["release"] = 0.2  # the first delete is still releasing when others come
    responses = await asyncio.gather(
        *(client.delete(f"{ORDERS}{order_id}/", headers=ada[1]) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 404, 404, 404, 404]
    assert products.count("release") == 1
    assert products.effective_releases() == 1
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"


async def test_delete_waiting_on_another_that_never_ends_is_503(
    make_app: Callable[..., FastAPI], products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    async with app_client(make_app(delete_wait_seconds=0.2)) as client:
        order_id = await placed_id(client, ada[1], lamp)
        claim = datetime.now(UTC)
        await db.execute(update(Order).values(delete_requested_at=claim))
        await db.commit()
        response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 503
    assert response.json()["code"] == "order_delete_in_progress"
    assert products.count("release") == 0
    assert (await stored_order(db, order_id)).delete_requested_at == claim


async def test_delete_takes_over_a_delete_interrupted_past_the_grace_period(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    await db.execute(update(Order).values(delete_requested_at=long_ago))
    await db.commit()
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 200
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"


async def test_deleting_a_failed_order_hides_it(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=0)
    assert (await place(client, ada[1], lamp)).status_code == 409
    order_id = uuid.UUID((await client.get(ORDERS, headers=ada[1])).json()["results"][0]["id"])
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 200
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert (await client.get(ORDERS, headers=ada[1])).json()["count"] == 0
    assert products.stock(lamp) == 0


async def test_deleting_a_pending_order_still_being_placed_is_503(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    order_id = await pending_order(ctx, ada[0], lamp)
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 503
    assert response.json()["code"] == "order_in_progress"
    assert response.headers["Retry-After"] == "30"
    stored = await stored_order(db, order_id)
    assert (stored.status, stored.delete_requested_at) == ("pending", None)
    assert products.count("release") == 0


async def test_deleting_an_abandoned_pending_order_releases_and_cancels_it(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    order_id = await pending_order(ctx, ada[0], lamp, 2)
    await ctx.products.reserve(order_id, [(lamp, 2)])  # the create died after reserving
    await age(db, order_id, 60)
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 200
    assert products.stock(lamp) == 5
    assert (await stored_order(db, order_id)).status == "cancelled"
