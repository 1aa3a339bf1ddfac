"""Reserve and release under real concurrency on PostgreSQL: no oversell, no deadlock, no
double release, no double take."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.config import Settings
from product_service.main import create_app
from product_service.models import Reservation
from shop_common.testing.fixtures import app_client
from shop_contracts.testing import FakeUserService

from ..conftest import create_product
from .helpers import release, reserve, stock_of


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], user_service: FakeUserService
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose pool lets many requests hold a connection at once."""
    settings = make_settings(db_pool_size=5, db_max_overflow=20)
    app = create_app(settings, user_transport=httpx.MockTransport(user_service))
    async with app_client(app) as client:
        yield client


async def test_100_single_unit_reserves_against_stock_30_sell_exactly_30(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=30)

    responses = await asyncio.gather(
        *(reserve(client, uuid.uuid4(), [(lamp["id"], 1)]) for _ in range(100))
    )

    assert Counter(r.status_code for r in responses) == {200: 30, 409: 70}
    assert await stock_of(db, lamp) == 0
    assert await db.scalar(select(func.count()).select_from(Reservation)) == 30


async def test_reserves_over_the_same_products_in_opposite_order_both_complete(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    products = [await create_product(client, stock=100) for _ in range(5)]
    forward = [(p["id"], 1) for p in products]
    backward = list(reversed(forward))

    responses = await asyncio.wait_for(
        asyncio.gather(
            *(reserve(client, uuid.uuid4(), forward if i % 2 else backward) for i in range(20))
        ),
        timeout=30,
    )

    assert [r.status_code for r in responses] == [200] * 20
    assert [await stock_of(db, p) for p in products] == [80] * 5


async def test_20_concurrent_releases_of_one_order_give_back_once(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    chair = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 3), (chair["id"], 4)])

    responses = await asyncio.gather(*(release(client, order_id) for _ in range(20)))

    assert {r.status_code for r in responses} == {200}
    assert Counter(r.json()["data"]["released"] for r in responses) == {True: 1, False: 19}
    assert (await stock_of(db, lamp), await stock_of(db, chair)) == (10, 10)


async def test_concurrent_retries_of_one_order_take_stock_once(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()

    responses = await asyncio.gather(
        *(reserve(client, order_id, [(lamp["id"], 3)]) for _ in range(10))
    )

    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert await stock_of(db, lamp) == 7


async def test_reserves_and_releases_interleaved_keep_the_stock_exact(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    products = [await create_product(client, stock=50) for _ in range(3)]
    orders = [uuid.uuid4() for _ in range(30)]
    items = [(p["id"], 1) for p in products]
    await asyncio.gather(*(reserve(client, o, items) for o in orders[:15]))

    await asyncio.gather(
        *(reserve(client, o, list(reversed(items))) for o in orders[15:]),
        *(release(client, o) for o in orders[:15]),
    )

    assert [await stock_of(db, p) for p in products] == [35] * 3
