"""Reserve and release run on their own pooled connection, not the session: a database that
is too slow or drops the connection still answers 503 with the error envelope, and leaves
nothing behind."""

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from product_service.config import Settings
from product_service.main import create_app
from shop_common.testing.fixtures import app_client
from shop_contracts.testing import FakeUserService

from ..conftest import create_product
from .helpers import lines_of, product_locked, release, reservation_of, reserve, stock_of

UNAVAILABLE = {
    "message": "The database is unavailable, try again shortly",
    "code": "database_unavailable",
}


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], user_service: FakeUserService
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose statements give up after 0.3 s."""
    settings = make_settings(db_statement_timeout_seconds=0.3)
    app = create_app(settings, user_transport=httpx.MockTransport(user_service))
    async with app_client(app) as client:
        yield client


async def test_a_reserve_over_the_statement_timeout_is_503_and_takes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    order_id = uuid.uuid4()

    async with product_locked(engine, lamp):
        response = await reserve(client, order_id, [(lamp["id"], 1)])

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"
    assert await stock_of(db, lamp) == 5
    assert await reservation_of(db, order_id) is None


async def test_a_release_over_the_statement_timeout_is_503_and_releases_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 2)])

    async with product_locked(engine, lamp):
        response = await release(client, order_id)
    again = await release(client, order_id)

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert again.json()["data"]["released"] is True
    assert await stock_of(db, lamp) == 5


async def test_a_reserve_on_a_connection_the_server_dropped_is_503_then_the_retry_works(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    lamp = await create_product(client, name="Lamp", price=100, stock=5)
    order_id = uuid.uuid4()
    async with engine.connect() as admin:
        await admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'product'"
            )
        )

    response = await reserve(client, order_id, [(lamp["id"], 1)])
    retry = await reserve(client, order_id, [(lamp["id"], 1)])

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert retry.status_code == 200
    assert await stock_of(db, lamp) == 4
    assert await lines_of(db, order_id) == [(lamp["id"], "Lamp", 100, 1)]
