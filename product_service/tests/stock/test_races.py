"""Reserve and release racing on one order, made deterministic: the test holds a product's
row lock (as a concurrent reserve would), lets requests queue behind it, then lets go."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from product_service.models import Product, Reservation, ReservationItem

from ..conftest import create_product
from .helpers import (
    lines_of,
    product_locked,
    release,
    reservation_of,
    reserve,
    stock_of,
    until_waiting_for_locks,
)


@pytest.mark.parametrize(
    ("stock", "left"),
    [(3, 0), (10, 7)],
    ids=["second-finds-it-short", "second-loses-the-claim"],
)
async def test_two_reserves_of_one_order_queued_on_a_lock_both_get_the_first_answer(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession, stock: int, left: int
) -> None:
    lamp = await create_product(client, name="Lamp", price=500, stock=stock)
    order_id = uuid.uuid4()

    async with product_locked(engine, lamp):
        first = asyncio.create_task(reserve(client, order_id, [(lamp["id"], 3)]))
        await until_waiting_for_locks(engine, 1)
        second = asyncio.create_task(reserve(client, order_id, [(lamp["id"], 3)]))
        await until_waiting_for_locks(engine, 2)
    responses = await asyncio.gather(first, second)

    assert [r.status_code for r in responses] == [200, 200]
    assert (
        responses[0].json()
        == responses[1].json()
        == {
            "data": {
                "order_id": str(order_id),
                "items": [
                    {"product_id": lamp["id"], "name": "Lamp", "unit_price": 500, "quantity": 3}
                ],
            }
        }
    )
    assert await stock_of(db, lamp) == left
    assert await lines_of(db, order_id) == [(lamp["id"], "Lamp", 500, 3)]


async def test_a_reserve_queued_on_a_lock_while_its_order_is_released_takes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()

    async with product_locked(engine, lamp):
        late = asyncio.create_task(reserve(client, order_id, [(lamp["id"], 4)]))
        await until_waiting_for_locks(engine, 1)
        released = await release(client, order_id)
    response = await late

    assert released.json()["data"]["released"] is False
    assert response.status_code == 409
    assert response.json()["code"] == "reservation_released"
    assert await stock_of(db, lamp) == 10
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is not None
    assert await lines_of(db, order_id) == []


async def test_a_release_meeting_a_reserve_committed_meanwhile_gives_its_stock_back(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    """The release's statement cannot see a reservation committed after it started; it meets
    it at its claim, then runs again and gives the stock back."""
    lamp = await create_product(client, name="Lamp", price=500, stock=10)
    order_id = uuid.uuid4()

    async with engine.connect() as reserving:  # what a reserve of 4 writes, not committed yet
        await reserving.execute(insert(Reservation).values(order_id=order_id))
        await reserving.execute(
            insert(ReservationItem).values(
                order_id=order_id,
                line=1,
                product_id=uuid.UUID(lamp["id"]),
                name="Lamp",
                unit_price=500,
                quantity=4,
            )
        )
        await reserving.execute(
            update(Product)
            .where(Product.id == uuid.UUID(lamp["id"]))
            .values(stock=Product.stock - 4, version=Product.version + 1)
        )
        pending = asyncio.create_task(release(client, order_id))
        await until_waiting_for_locks(engine, 1)
        await reserving.commit()
    response = await pending

    assert response.json() == {"data": {"order_id": str(order_id), "released": True}}
    assert await stock_of(db, lamp) == 10
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is not None


async def test_a_repeat_during_a_release_queued_on_a_lock_answers_without_waiting(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    first = await reserve(client, order_id, [(lamp["id"], 4)])

    async with product_locked(engine, lamp):
        releasing = asyncio.create_task(release(client, order_id))
        await until_waiting_for_locks(engine, 1)
        again = await asyncio.wait_for(reserve(client, order_id, [(lamp["id"], 4)]), 5)
    released = await releasing

    assert again.json() == first.json()
    assert released.json()["data"]["released"] is True
    assert await stock_of(db, lamp) == 10
    count = await db.scalar(select(func.count()).select_from(Reservation))
    assert count == 1


async def test_a_release_waits_for_the_products_before_marking_the_reservation(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    """Products first, then the reservation row: while the release waits for a product, the
    reservation is still unmarked (a reserve of the same order, holding that product and
    waiting for the row, could otherwise never finish)."""
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 4)])

    async with product_locked(engine, lamp):
        releasing = asyncio.create_task(release(client, order_id))
        await until_waiting_for_locks(engine, 1)
        marked = await db.scalar(
            select(Reservation.released_at)
            .where(Reservation.order_id == order_id)
            .with_for_update(nowait=True)
        )
        await db.rollback()
    await releasing

    assert marked is None
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is not None
