"""DELETE /api/v1/order/{id}/: the stock goes back once, then the order is gone for its owner."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.context import OrderContext
from order_service.reconciler import reconcile_once
from shop_common.errors import ServiceUnavailable

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


ACCEPTED = "Order deletion accepted; its stock is given back as soon as the product service answers"


def later(seconds: float = 31) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def assert_gone_for(client: httpx.AsyncClient, user: User, order_id: uuid.UUID) -> None:
    assert (await client.get(f"{ORDERS}{order_id}/", headers=user[1])).status_code == 404
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=user[1])).status_code == 404
    listed = (await client.get(ORDERS, headers=user[1])).json()
    assert str(order_id) not in [o["id"] for o in listed["results"]]


async def test_a_release_whose_answer_is_lost_is_202_and_never_undone(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    """The product service gives the stock back but its answer never arrives: the order
    must not stay confirmed (its units would be sold twice). Issue 9's oversell."""
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp, 2)
    products.lose_answer.add("release")
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 202
    assert response.json() == {"message": ACCEPTED}
    assert products.stock(lamp) == 5  # the release did happen
    stored = await stored_order(db, order_id)
    assert stored.delete_requested_at is not None  # recorded, and never cleared
    await assert_gone_for(client, ada, order_id)
    products.lose_answer.clear()
    report = await reconcile_once(ctx, now=later())
    assert report.released == [order_id]
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert products.stock(lamp) == 5
    assert products.effective_releases() == 1


@pytest.mark.parametrize(
    "fault", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 500, 403]
)
async def test_delete_with_the_product_service_down_is_202_and_finished_by_the_reconciler(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
    fault: Exception | int,
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    products.faults["release"] = fault
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 202
    assert response.json() == {"message": ACCEPTED}
    stored = await stored_order(db, order_id)
    assert (stored.status, stored.delete_requested_at is not None) == ("confirmed", True)
    assert products.stock(lamp) == 4
    await assert_gone_for(client, ada, order_id)
    assert (await reconcile_once(ctx, now=later())).errors == [order_id]  # still down
    assert (await stored_order(db, order_id)).status == "confirmed"
    del products.faults["release"]
    assert (await reconcile_once(ctx, now=later(62))).released == [order_id]
    assert (await stored_order(db, order_id)).status == "cancelled"
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


async def test_an_order_being_deleted_is_already_gone_for_its_owner(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    order_id = await placed_id(client, ada[1], lamp)
    products.delays["release"] = 0.3
    products.arrived["release"].clear()
    first = asyncio.create_task(client.delete(f"{ORDERS}{order_id}/", headers=ada[1]))
    await products.arrived["release"].wait()
    await assert_gone_for(client, ada, order_id)
    assert (await first).status_code == 200
    assert products.count("release") == 1


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


async def test_deleting_a_pending_order_releases_it_and_its_create_cannot_confirm(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    lamp = products.add(stock=5)
    order_id = await pending_order(ctx, ada[0], lamp, 2)
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 200
    assert (await stored_order(db, order_id)).status == "cancelled"
    # The create's reserve arriving after that release takes nothing.
    with pytest.raises(ServiceUnavailable):
        await ctx.products.reserve(order_id, [(lamp, 2)])
    assert products.stock(lamp) == 5


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
