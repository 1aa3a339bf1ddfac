"""No oversell, end to end: many users ordering at once through the real user and product apps
sell exactly the stock there is, and every unit sold is in a confirmed order."""

import asyncio
import random
import uuid
from collections import Counter, defaultdict

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from order_service.models import Order

from ..conftest import ORDERS, orders_by_status
from .conftest import System, create_product, held_reservations, register, stock_of


async def _shoppers(system: System, count: int = 5) -> list[dict[str, str]]:
    return [await register(system, f"shopper{n}") for n in range(count)]


async def _confirmed_quantities(db: AsyncSession) -> dict[uuid.UUID, int]:
    """Units per product in the order service's confirmed orders."""
    db.expire_all()
    orders = await db.scalars(
        select(Order).where(Order.status == "confirmed").options(selectinload(Order.items))
    )
    totals: dict[uuid.UUID, int] = defaultdict(int)
    for order in orders:
        for item in order.items:
            totals[item.product_id] += item.quantity
    return dict(totals)


async def _order_all(
    system: System, shoppers: list[dict[str, str]], bodies: list[dict[str, object]]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(
            system.orders.post(ORDERS, json=body, headers=shoppers[n % len(shoppers)])
            for n, body in enumerate(bodies)
        )
    )


async def test_100_concurrent_orders_for_stock_30_confirm_exactly_30(
    system: System, db: AsyncSession
) -> None:
    shoppers = await _shoppers(system)
    lamp = await create_product(system, shoppers[0], stock=30, price=1500)
    responses = await _order_all(system, shoppers, [{"product_id": str(lamp)}] * 100)
    assert Counter(r.status_code for r in responses) == {201: 30, 409: 70}
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {body["code"] for body in refused} == {"insufficient_stock"}
    assert all(body["details"][0]["product_id"] == str(lamp) for body in refused)
    assert all(r.json()["data"]["total"] == 1500 for r in responses if r.status_code == 201)
    assert await stock_of(system, lamp) == 0
    assert await _confirmed_quantities(db) == {lamp: 30}
    assert await orders_by_status(db) == {"confirmed": 30, "failed": 70}
    assert await held_reservations(system) == 30


async def test_100_concurrent_multi_item_orders_over_3_products_confirm_exactly_30(
    system: System, db: AsyncSession
) -> None:
    shoppers = await _shoppers(system)
    products = [await create_product(system, shoppers[0], stock=30) for _ in range(3)]
    # Each order lists the products in its own order: the product service must not deadlock.
    bodies: list[dict[str, object]] = []
    for n in range(100):
        lines = [{"product_id": str(pid), "quantity": 1} for pid in products]
        bodies.append({"items": lines[n % 3 :] + lines[: n % 3]})
    responses = await _order_all(system, shoppers, bodies)
    assert Counter(r.status_code for r in responses) == {201: 30, 409: 70}
    assert [await stock_of(system, pid) for pid in products] == [0, 0, 0]
    assert await _confirmed_quantities(db) == dict.fromkeys(products, 30)
    assert await orders_by_status(db) == {"confirmed": 30, "failed": 70}


async def test_random_concurrent_baskets_sell_no_more_than_the_stock_and_lose_none(
    system: System, db: AsyncSession
) -> None:
    shoppers = await _shoppers(system)
    initial = {await create_product(system, shoppers[0], stock=s): s for s in (25, 15, 10)}
    rng = random.Random(5)
    bodies: list[dict[str, object]] = []
    for _ in range(100):
        chosen = rng.sample(list(initial), rng.randint(1, 3))
        lines = [{"product_id": str(pid), "quantity": rng.randint(1, 3)} for pid in chosen]
        bodies.append({"items": lines})
    responses = await _order_all(system, shoppers, bodies)
    assert {r.status_code for r in responses} <= {201, 409}
    confirmed = await _confirmed_quantities(db)
    for pid, stock in initial.items():
        left = await stock_of(system, pid)
        assert left >= 0
        assert confirmed.get(pid, 0) == stock - left
    statuses = Counter(r.status_code for r in responses)
    assert await orders_by_status(db) == {"confirmed": statuses[201], "failed": statuses[409]}
    assert await held_reservations(system) == statuses[201]
