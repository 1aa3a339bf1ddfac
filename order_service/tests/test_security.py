"""Security findings of issue 11 on the order service, one test (or a few) per finding.

Finding 1, stock hoarding (API6): the 1000-unit cap holds after lines are merged, and a
per-user bound on units of a product held in live orders keeps a few accounts, with no
payment step, from taking a product's whole stock, even when their creates race.
Finding 5: a delete whose release times out or fails never leaves its user with both the
stock back and the order.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from order_service import repository
from order_service.context import OrderContext, PerUserGate
from order_service.models import Order, OrderItem
from order_service.reconciler import reconcile_once
from shop_common.errors import DatabaseUnavailable
from shop_common.testing.fixtures import app_client
from shop_contracts.product import ReservationRead

from .conftest import (
    ORDERS,
    age,
    key_count,
    orders_by_status,
    pending_order,
    place,
    placed_id,
    stored_order,
    straggling_confirm,
)
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]
LIMIT = 5


def lines(product_id: uuid.UUID, *quantities: int) -> dict[str, object]:
    return {"items": [{"product_id": str(product_id), "quantity": q} for q in quantities]}


async def units_in_orders(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0))) or 0)


@pytest.fixture
async def bounded(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    """A client into an app whose users may hold `LIMIT` units of a product."""
    async with app_client(make_app(max_units_per_product_per_user=LIMIT)) as client:
        yield client


# Finding 1: the line cap after merging.


@pytest.mark.parametrize(("quantity", "count"), [(1000, 50), (600, 2), (1000, 2)])
async def test_merged_lines_over_the_cap_are_422_and_nothing_is_reserved(
    client: httpx.AsyncClient,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
    quantity: int,
    count: int,
) -> None:
    """Finding 1: 50 lines of 1000 units of one product merged into one of 50,000."""
    lamp = products.add(stock=1_000_000)
    body = lines(lamp, *[quantity] * count)
    response = await client.post(ORDERS, json=body, headers=ada[1])
    assert response.status_code == 422
    assert response.json() == {
        "message": "Request validation failed",
        "code": "validation_error",
        "details": [
            {
                "loc": ["body", "items"],
                "msg": f"The lines for product {lamp} add up to {quantity * count} units; "
                "at most 1000 units of a product per order",
            }
        ],
    }
    assert await orders_by_status(db) == {}
    assert products.count("reserve") == 0
    assert products.stock(lamp) == 1_000_000


async def test_merged_lines_up_to_the_cap_are_one_line(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=2000)
    desk = products.add(stock=2000)
    body = lines(lamp, 500, 500)
    body["items"].append({"product_id": str(desk), "quantity": 1000})  # type: ignore[attr-defined]
    response = await client.post(ORDERS, json=body, headers=ada[1])
    assert response.status_code == 201, response.text
    assert [i["quantity"] for i in response.json()["data"]["items"]] == [1000, 1000]


# Finding 1: the per-user bound.


async def test_an_order_past_the_per_user_bound_is_409_and_nothing_is_reserved(
    bounded: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    """Finding 1: with no payment step, a few accounts could take a product's whole stock."""
    lamp = products.add(stock=100)
    await placed_id(bounded, ada[1], lamp, 3)
    response = await place(bounded, ada[1], lamp, 3)
    assert response.status_code == 409
    assert response.json() == {
        "message": "This order would take you past 5 units of one product in your pending "
        "and confirmed orders",
        "code": "order_limit_exceeded",
        "details": [{"product_id": str(lamp), "requested": 3, "held": 3, "limit": LIMIT}],
    }
    assert await orders_by_status(db) == {"confirmed": 1}
    assert products.count("reserve") == 1
    assert products.stock(lamp) == 97


async def test_the_bound_names_every_product_past_it_and_takes_none(
    bounded: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp, desk, sofa = (products.add(stock=100) for _ in range(3))
    await placed_id(bounded, ada[1], lamp, 5)
    await placed_id(bounded, ada[1], desk, 4)
    body = {
        "items": [
            {"product_id": str(sofa), "quantity": 1},
            {"product_id": str(lamp), "quantity": 1},
            {"product_id": str(desk), "quantity": 2},
        ]
    }
    response = await bounded.post(ORDERS, json=body, headers=ada[1])
    assert response.status_code == 409
    assert response.json()["details"] == [
        {"product_id": str(lamp), "requested": 1, "held": 5, "limit": LIMIT},
        {"product_id": str(desk), "requested": 2, "held": 4, "limit": LIMIT},
    ]
    assert await orders_by_status(db) == {"confirmed": 2}
    assert products.stock(sofa) == 100


async def test_a_refusal_under_an_idempotency_key_keeps_no_key(
    bounded: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    """Nothing is written, so a retry once units are freed is judged afresh."""
    lamp = products.add(stock=100)
    first = await placed_id(bounded, ada[1], lamp, LIMIT)
    headers = {**ada[1], "Idempotency-Key": "hoard-1"}
    refused = await place(bounded, headers, lamp, 1)
    assert refused.status_code == 409
    assert refused.json()["code"] == "order_limit_exceeded"
    assert await key_count(db) == 0
    assert (await bounded.delete(f"{ORDERS}{first}/", headers=ada[1])).status_code == 200
    assert (await place(bounded, headers, lamp, 1)).status_code == 201


async def test_a_replay_is_answered_even_at_the_bound(
    bounded: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=100)
    headers = {**ada[1], "Idempotency-Key": "full"}
    first = await place(bounded, headers, lamp, LIMIT)
    again = await place(bounded, headers, lamp, LIMIT)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert products.count("reserve") == 1


async def test_only_live_orders_of_that_user_and_product_count(
    bounded: httpx.AsyncClient,
    products: FakeProducts,
    ada: User,
    bob: User,
    db: AsyncSession,
) -> None:
    """Failed and deleted orders hold nothing; other users and products are not counted."""
    lamp = products.add(stock=4)
    desk = products.add(stock=100)
    short = await place(bounded, ada[1], lamp, 5)
    assert short.json()["code"] == "insufficient_stock"  # a failed order of 5 units
    gone = await placed_id(bounded, ada[1], lamp, 4)
    assert (await bounded.delete(f"{ORDERS}{gone}/", headers=ada[1])).status_code == 200
    products.products[lamp].stock = 100
    await placed_id(bounded, ada[1], lamp, 4)
    await placed_id(bounded, ada[1], desk, LIMIT)
    await placed_id(bounded, bob[1], lamp, LIMIT)
    await placed_id(bounded, ada[1], lamp, 1)
    assert (await place(bounded, ada[1], lamp, 1)).json()["code"] == "order_limit_exceeded"
    assert await orders_by_status(db) == {"failed": 1, "cancelled": 1, "confirmed": 4}


async def test_pending_orders_and_unfinished_deletes_count_until_their_stock_is_back(
    bounded: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
) -> None:
    """A pending order may hold its stock already, and a delete answered 202 may not have
    given it back yet: both count until the order is `cancelled`."""
    lamp = products.add(stock=100)
    stale = await pending_order(ctx, ada[0], lamp, 2)
    kept = await placed_id(bounded, ada[1], lamp, 3)
    products.faults["release"] = 500
    assert (await bounded.delete(f"{ORDERS}{kept}/", headers=ada[1])).status_code == 202
    refused = await place(bounded, ada[1], lamp, 1)
    assert refused.json()["details"] == [
        {"product_id": str(lamp), "requested": 1, "held": LIMIT, "limit": LIMIT}
    ]
    del products.faults["release"]
    await age(db, stale, 60)
    report = await reconcile_once(ctx, now=later())
    assert sorted(report.released) == sorted([stale, kept])
    await placed_id(bounded, ada[1], lamp, LIMIT)


async def test_a_bound_of_zero_is_no_bound(
    make_app: Callable[..., FastAPI], products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5000)
    async with app_client(make_app(max_units_per_product_per_user=0)) as client:
        for _ in range(3):
            await placed_id(client, ada[1], lamp, 1000)
    assert products.stock(lamp) == 2000


@pytest.fixture
def slow_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound's query, then a pause before the order is written: two creates that are
    not kept apart would both read the same holdings in that window."""
    real = repository.units_held

    async def slowly(session: AsyncSession, **kwargs: Any) -> dict[uuid.UUID, int]:
        held = await real(session, **kwargs)
        await asyncio.sleep(0.3)
        return held

    monkeypatch.setattr(repository, "units_held", slowly)


@pytest.mark.usefixtures("slow_check")
@pytest.mark.parametrize("keys", [(None, None), ("first", "second")])
async def test_two_creates_at_once_at_the_bound_let_exactly_one_through(
    bounded: httpx.AsyncClient,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
    keys: tuple[str | None, str | None],
) -> None:
    """Finding 1 under a race: two creates of one user at once each see the other's order,
    so only one of them fits under the bound."""
    lamp = products.add(stock=100)
    await placed_id(bounded, ada[1], lamp, LIMIT - 1)
    headers = [{**ada[1], **({"Idempotency-Key": key} if key else {})} for key in keys]
    responses = await asyncio.gather(*(place(bounded, h, lamp, 1) for h in headers))
    assert sorted(r.status_code for r in responses) == [201, 409]
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["details"] == [
        {"product_id": str(lamp), "requested": 1, "held": LIMIT, "limit": LIMIT}
    ]
    assert await orders_by_status(db) == {"confirmed": 2}
    assert await units_in_orders(db) == LIMIT
    assert products.count("reserve") == 2
    assert products.stock(lamp) == 100 - LIMIT


async def test_a_burst_of_creates_at_the_bound_lets_exactly_one_through(
    bounded: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=100)
    await placed_id(bounded, ada[1], lamp, LIMIT - 1)
    responses = await asyncio.gather(*(place(bounded, ada[1], lamp, 1) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert await units_in_orders(db) == LIMIT
    assert products.stock(lamp) == 100 - LIMIT


async def test_the_gate_lets_a_few_creates_of_one_user_in_at_once_and_forgets_them() -> None:
    """A user's creates queue for the bound's lock: no more than the gate's width of them
    hold a pooled connection while they wait, so one burst cannot starve the others."""
    gate, inside, most = PerUserGate(width=2), 0, 0
    ada, bob = uuid.uuid4(), uuid.uuid4()

    async def create(user_id: uuid.UUID) -> None:
        nonlocal inside, most
        async with gate.enter(user_id, wait_seconds=5):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(create(ada) for _ in range(6)), create(bob))
    assert most == 3  # two of ada's, and bob's
    assert len(gate) == 0


async def test_a_create_waiting_too_long_at_the_gate_is_503_like_a_pool_wait() -> None:
    gate, ada = PerUserGate(width=1), uuid.uuid4()
    async with gate.enter(ada, wait_seconds=1):
        with pytest.raises(DatabaseUnavailable) as refused:
            async with gate.enter(ada, wait_seconds=0.01):
                pass  # pragma: no cover - never entered
    assert refused.value.headers == {"Retry-After": "5"}
    assert len(gate) == 0


# Finding 5: a delete whose release times out or fails.

ACCEPTED = "Order deletion accepted; its stock is given back as soon as the product service answers"


def later(seconds: float = 31) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def assert_gone(client: httpx.AsyncClient, user: User, order_id: uuid.UUID) -> None:
    assert (await client.get(f"{ORDERS}{order_id}/", headers=user[1])).status_code == 404
    for params in ({}, {"status": "confirmed"}, {"status": "pending"}):
        listed = (await client.get(ORDERS, params=params, headers=user[1])).json()
        assert str(order_id) not in [o["id"] for o in listed["results"]]


async def confirm_again(ctx: OrderContext, order_id: uuid.UUID, lamp: uuid.UUID) -> object:
    """What a straggling create would do: confirm the order with a reservation."""
    reservation = ReservationRead.model_validate(
        {
            "order_id": str(order_id),
            "items": [{"product_id": str(lamp), "name": "Lamp", "unit_price": 2500, "quantity": 2}],
        }
    )
    return await straggling_confirm(ctx, uuid.uuid4(), order_id, reservation)


@pytest.mark.parametrize("fault", ["answer lost", httpx.ReadTimeout("overloaded"), 500, 503])
async def test_an_overloaded_product_service_never_leaves_both_the_stock_and_the_order(
    client: httpx.AsyncClient,
    ctx: OrderContext,
    products: FakeProducts,
    ada: User,
    db: AsyncSession,
    fault: str | Exception | int,
) -> None:
    """Finding 5: a delete whose release timed out used to leave the order confirmed while
    its stock was back. After the 202 the order is gone for good: 404, in no list, recorded
    as being cancelled; no replay, retry or straggling confirm brings it back."""
    lamp = products.add(stock=5)
    headers = {**ada[1], "Idempotency-Key": "order-1"}
    created = await place(client, headers, lamp, 2)
    order_id = uuid.UUID(created.json()["data"]["id"])
    if fault == "answer lost":
        products.lose_answer.add("release")  # the stock comes back, the answer does not
    else:
        products.faults["release"] = fault  # type: ignore[assignment]
    response = await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])
    assert response.status_code == 202
    assert response.json() == {"message": ACCEPTED}
    await assert_gone(client, ada, order_id)
    stored = await stored_order(db, order_id)
    assert stored.delete_requested_at is not None
    assert stored.status in {"confirmed", "cancelled"}
    # Neither a second delete, a replay of the create, nor a late confirm revives it.
    assert (await client.delete(f"{ORDERS}{order_id}/", headers=ada[1])).status_code == 404
    replayed = await place(client, headers, lamp, 2)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert await confirm_again(ctx, order_id, lamp) is None
    assert products.count("reserve") == 1
    assert await db.scalar(select(func.count()).select_from(Order)) == 1
    await assert_gone(client, ada, order_id)
    # The product service recovers: the reconciler gives the stock back, exactly once.
    products.faults.clear()
    products.lose_answer.clear()
    assert (await reconcile_once(ctx, now=later())).released == [order_id]
    assert (await stored_order(db, order_id)).status == "cancelled"
    assert products.stock(lamp) == 5
    assert products.effective_releases() == 1
    await assert_gone(client, ada, order_id)
