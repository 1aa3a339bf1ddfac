"""A database that is gone, too slow or out of connections is a 503 in the envelope, never
a 500: the shared error handling (shop_common.errors), exercised on real PostgreSQL."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app

from .conftest import PASSWORD, bearer, register

NEW_USER = {"email": "grace@example.com", "password": PASSWORD, "name": "Grace"}


def assert_database_unavailable(status: int, body: dict[str, object]) -> None:
    assert status == 503
    assert body == {
        "message": "The database is unavailable, try again shortly",
        "code": "database_unavailable",
    }


async def test_a_missing_database_socket_is_503(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """What a restarting embedded PostgreSQL looks like: its unix socket is not there."""
    gone = f"postgresql+asyncpg://postgres@/user_db?host={tmp_path / 'no-such-socket-dir'}"
    async with app_client(create_app(make_settings(database_url=gone))) as client:
        response = await client.post("/api/v1/register/", json=NEW_USER)
    assert_database_unavailable(response.status_code, response.json())
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Request-ID"]


async def test_a_refused_database_port_is_503(make_settings: Callable[..., Settings]) -> None:
    refused = "postgresql+asyncpg://postgres@127.0.0.1:9/user_db"
    async with app_client(create_app(make_settings(database_url=refused))) as client:
        response = await client.post("/api/v1/register/", json=NEW_USER)
    assert_database_unavailable(response.status_code, response.json())


async def test_a_statement_over_statement_timeout_is_503_and_writes_nothing(
    make_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    settings = make_settings(db_statement_timeout_seconds=0.2)
    async with app_client(create_app(settings)) as client:
        tokens = await register(client)
        async with engine.connect() as blocker:  # holds the users table's lock
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            response = await client.patch(
                "/api/v1/profile/", json={"name": "Changed"}, headers=bearer(tokens["access"])
            )
            await blocker.rollback()
        assert_database_unavailable(response.status_code, response.json())
        profile = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert profile.json()["data"]["name"] == "Ada"


async def test_an_exhausted_connection_pool_is_503_after_the_pool_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.2)
    app = create_app(settings)
    async with app_client(app) as client:
        async with app.state.db.engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            response = await client.post("/api/v1/register/", json=NEW_USER)
        assert_database_unavailable(response.status_code, response.json())
        # The connection is back in the pool: the service answers again at once.
        assert (await client.post("/api/v1/register/", json=NEW_USER)).status_code == 201


async def test_a_profile_read_on_an_exhausted_pool_is_503(
    make_settings: Callable[..., Settings],
) -> None:
    """The session-less profile read takes its connection from the same bounded pool."""
    settings = make_settings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.2)
    app = create_app(settings)
    async with app_client(app) as client:
        tokens = await register(client)
        async with app.state.db.engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            response = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
        assert_database_unavailable(response.status_code, response.json())
        again = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
        assert again.status_code == 200


@pytest.mark.parametrize("name", ["statement_timeout", "idle_in_transaction_session_timeout"])
async def test_every_pooled_connection_carries_the_server_side_timeouts(
    make_settings: Callable[..., Settings], name: str
) -> None:
    settings = make_settings(
        db_statement_timeout_seconds=1.5, db_idle_in_transaction_timeout_seconds=7
    )
    app = create_app(settings)
    async with app_client(app), app.state.db.engine.connect() as conn:
        value = await conn.scalar(text(f"SHOW {name}"))
    assert (
        value == {"statement_timeout": "1500ms", "idle_in_transaction_session_timeout": "7s"}[name]
    )


async def test_the_service_answers_again_once_the_database_is_back(
    make_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    """Connections the server killed fail once (503), then the pool reconnects by itself."""
    app = create_app(make_settings())
    async with app_client(app) as client:
        tokens = await register(client)
        async with engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'user'"
                )
            )
        statuses = []
        for _ in range(3):
            response = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
            statuses.append(response.status_code)
            await asyncio.sleep(0)
    assert statuses[-1] == 200
    assert set(statuses) <= {200, 503}
