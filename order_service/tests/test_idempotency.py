"""Idempotency-Key on POST /api/v1/order/: one order per key, the first answer replayed."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import IdempotencyKey
from shop_common.testing.fixtures import app_client

from .conftest import ORDERS, key_count, orders_by_status, place
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


def keyed(user: User, key: str = "key-1") -> dict[str, str]:
    return {**user[1], "Idempotency-Key": key}


async def test_replay_returns_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    first = await place(client, keyed(ada), lamp, 2)
    replay = await place(client, keyed(ada), lamp, 2)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert products.stock(lamp) == 3
    assert products.count("reserve") == 1
    assert await orders_by_status(db) == {"confirmed": 1}


async def test_the_same_order_in_the_other_body_form_is_a_replay(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = str(products.add(stock=5))
    first = await client.post(ORDERS, json={"product_id": lamp, "quantity": 2}, headers=keyed(ada))
    items = [{"product_id": lamp, "quantity": 1}, {"product_id": lamp, "quantity": 1}]
    again = await client.post(ORDERS, json={"items": items}, headers=keyed(ada))
    assert again.status_code == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]


async def test_same_key_with_another_body_is_422_idempotency_key_reused(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    assert (await place(client, keyed(ada), lamp, 2)).status_code == 201
    response = await place(client, keyed(ada), lamp, 1)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert body["details"][0]["loc"] == ["header", "Idempotency-Key"]
    assert products.stock(lamp) == 3
    assert await orders_by_status(db) == {"confirmed": 1}


async def test_keys_are_scoped_per_user(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, bob: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    mine = await place(client, keyed(ada), lamp)
    theirs = await place(client, keyed(bob), lamp)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]
    assert await orders_by_status(db) == {"confirmed": 2}


async def test_concurrent_requests_with_one_key_create_one_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=50)
    products.delays["reserve"] = 0.1  # the first is still running when the others arrive
    responses = await asyncio.gather(*(place(client, keyed(ada), lamp, 2) for _ in range(10)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert products.count("reserve") == 1
    assert products.stock(lamp) == 48
    assert await orders_by_status(db) == {"confirmed": 1}
    assert await key_count(db) == 1


async def test_a_request_waiting_too_long_on_its_key_gets_409_in_progress(
    make_app: Callable[..., FastAPI], products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    products.delays["reserve"] = 0.5
    async with app_client(make_app(idempotency_wait_seconds=0.1)) as client:
        first, second = await asyncio.gather(
            place(client, keyed(ada), lamp), _after(0.1, place(client, keyed(ada), lamp))
        )
    winner, loser = sorted((first, second), key=lambda r: r.status_code)
    assert (winner.status_code, loser.status_code) == (201, 409)
    assert loser.json()["code"] == "idempotency_in_progress"
    assert await orders_by_status(db) == {"confirmed": 1}


async def _after(delay: float, request: Awaitable[httpx.Response]) -> httpx.Response:
    await asyncio.sleep(delay)
    return await request


async def test_a_409_answer_is_replayed_too(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=1)
    first = await place(client, keyed(ada), lamp, 2)
    products.products[lamp].stock = 10
    replay = await place(client, keyed(ada), lamp, 2)
    assert first.status_code == replay.status_code == 409
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert products.count("reserve") == 1
    assert await orders_by_status(db) == {"failed": 1}


async def test_after_a_503_the_key_is_free_to_retry(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    products.faults["reserve"] = httpx.ConnectError("refused")
    assert (await place(client, keyed(ada), lamp)).status_code == 503
    del products.faults["reserve"]
    retry = await place(client, keyed(ada), lamp)
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert products.stock(lamp) == 4
    assert await orders_by_status(db) == {"cancelled": 1, "confirmed": 1}
    key = (await db.scalars(select(IdempotencyKey))).one()
    assert str(key.order_id) == retry.json()["data"]["id"]


async def test_a_key_older_than_24_hours_places_a_new_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    first = await place(client, keyed(ada), lamp)
    yesterday = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    await db.execute(update(IdempotencyKey).values(created_at=yesterday))
    await db.commit()
    again = await place(client, keyed(ada), lamp)
    assert again.status_code == 201
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert products.stock(lamp) == 3
    assert await key_count(db) == 1


async def test_without_a_key_every_request_places_an_order(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=5)
    for _ in range(2):
        assert (await place(client, ada[1], lamp)).status_code == 201
    assert await orders_by_status(db) == {"confirmed": 2}
    assert await key_count(db) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
async def test_a_malformed_key_is_422(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, key: str
) -> None:
    response = await client.post(
        ORDERS,
        json={"product_id": str(products.add())},
        headers=[
            *((name.encode(), value.encode()) for name, value in ada[1].items()),
            (b"Idempotency-Key", key.encode()),
        ],
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["header", "Idempotency-Key"]
