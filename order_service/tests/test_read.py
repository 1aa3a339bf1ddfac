"""GET /api/v1/order/ and /api/v1/order/{id}/: only the caller's orders, newest first."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Order

from .conftest import ORDERS, place, placed_id
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


async def test_list_shows_the_callers_orders_newest_first(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, bob: User
) -> None:
    lamp = products.add(stock=10)
    first = await placed_id(client, ada[1], lamp)
    second = await placed_id(client, ada[1], lamp, 2)
    await placed_id(client, bob[1], lamp)
    response = await client.get(ORDERS, headers=ada[1])
    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["results"]] == [str(second), str(first)]
    assert (body["count"], body["offset"], body["limit"]) == (2, 0, 10)
    assert all(o["user_id"] == str(ada[0]) for o in body["results"])


async def test_list_breaks_created_at_ties_by_id(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=10)
    ids = [await placed_id(client, ada[1], lamp) for _ in range(3)]
    first = await db.get(Order, ids[0])
    assert first is not None
    await db.execute(update(Order).values(created_at=first.created_at))
    await db.commit()
    results = (await client.get(ORDERS, headers=ada[1])).json()["results"]
    assert [o["id"] for o in results] == [str(i) for i in sorted(ids, reverse=True)]


async def test_list_pages_with_offset_and_limit(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=10)
    ids = [await placed_id(client, ada[1], lamp) for _ in range(3)]
    response = await client.get(ORDERS, params={"offset": 1, "limit": 1}, headers=ada[1])
    body = response.json()
    assert [o["id"] for o in body["results"]] == [str(ids[1])]
    assert (body["count"], body["offset"], body["limit"]) == (3, 1, 1)


async def test_list_filters_by_status(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=1)
    confirmed = await placed_id(client, ada[1], lamp)
    assert (await place(client, ada[1], lamp)).status_code == 409
    for status, expected in (("confirmed", [str(confirmed)]), ("pending", [])):
        response = await client.get(ORDERS, params={"status": status}, headers=ada[1])
        assert [o["id"] for o in response.json()["results"]] == expected
    failed = (await client.get(ORDERS, params={"status": "failed"}, headers=ada[1])).json()
    assert failed["count"] == 1
    assert failed["results"][0]["status"] == "failed"


@pytest.mark.parametrize("status", ["cancelled", "shipped", ""])
async def test_list_with_an_unknown_status_is_422(
    client: httpx.AsyncClient, ada: User, status: str
) -> None:
    response = await client.get(ORDERS, params={"status": status}, headers=ada[1])
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["query", "status"]]


@pytest.mark.parametrize(("param", "value"), [("limit", 0), ("limit", 101), ("offset", -1)])
async def test_list_with_bad_paging_is_422(
    client: httpx.AsyncClient, ada: User, param: str, value: int
) -> None:
    response = await client.get(ORDERS, params={param: value}, headers=ada[1])
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["query", param]


async def test_list_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(ORDERS)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_detail_returns_the_own_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add("Lamp", price=300, stock=10)
    order_id = await placed_id(client, ada[1], lamp, 3)
    for path in (f"{ORDERS}{order_id}/", f"{ORDERS}{order_id}"):
        response = await client.get(path, headers=ada[1])
        assert response.status_code == 200
        data = response.json()["data"]
        assert set(response.json()) == {"data"}
        assert (data["id"], data["status"], data["total"]) == (str(order_id), "confirmed", 900)


async def test_someone_elses_order_is_404(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, bob: User
) -> None:
    order_id = await placed_id(client, ada[1], products.add())
    response = await client.get(f"{ORDERS}{order_id}/", headers=bob[1])
    assert response.status_code == 404
    assert response.json() == {"message": "Order not found", "code": "order_not_found"}
    assert (await client.get(ORDERS, headers=bob[1])).json()["results"] == []


async def test_unknown_order_is_404_and_a_malformed_id_422(
    client: httpx.AsyncClient, ada: User
) -> None:
    response = await client.get(f"{ORDERS}{uuid.uuid4()}/", headers=ada[1])
    assert response.status_code == 404
    response = await client.get(f"{ORDERS}not-a-uuid/", headers=ada[1])
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["path", "id"]


async def test_detail_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ORDERS}{uuid.uuid4()}/")
    assert response.status_code == 401


async def test_a_page_past_the_end_is_empty_and_still_counts(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=10)
    for _ in range(2):
        await placed_id(client, ada[1], lamp)
    response = await client.get(ORDERS, params={"offset": 5, "limit": 2}, headers=ada[1])
    assert response.status_code == 200
    body = response.json()
    assert (body["results"], body["count"], body["offset"]) == ([], 2, 5)


async def test_a_list_is_one_statement_and_an_order_two(
    app: FastAPI, client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    """Issue 12: the page, its count and its lines in one round trip (the ORM took three),
    and an order without an idempotency key written pending and confirmed in one each (the
    ORM's flushes took five)."""
    lamp = products.add(stock=10)
    await placed_id(client, ada[1], lamp)  # warm: the token is cached from here on
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]).split()[0])

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        placed = await client.post(
            ORDERS, json={"product_id": str(lamp), "quantity": 2}, headers=ada[1]
        )
        placing = list(statements)
        statements.clear()
        listed = await client.get(ORDERS, headers=ada[1])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert placed.status_code == 201
    assert placing == ["WITH", "WITH"]
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [len(o["items"]) for o in listed.json()["results"]] == [1, 1]
    assert statements == ["SELECT"]
