"""Building blocks for each service's `conftest.py`.

- `temporary_database`: a database made for this test run on the server named by
  `TEST_DATABASE_URL`, migrated with the service's Alembic config, dropped afterwards;
- `truncate_tables`: per-test isolation that also works for requests that commit;
- `clean_redis`: deletes only the keys under this run's prefix;
- `app_client`: runs an app's lifespan and gives an `httpx.AsyncClient` over ASGI.

Tests never touch a database or a key they did not create.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import MetaData, inspect, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.types import ASGIApp, Receive, Scope, Send

from shop_common.redis import create_redis

__all__ = [
    "alembic_config",
    "app_client",
    "clean_redis",
    "migration_drift",
    "table_names",
    "run_alembic",
    "script_revisions",
    "temporary_database",
    "redis_url_for_tests",
    "truncate_tables",
    "unique_prefix",
]

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url_for_tests() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


def unique_prefix(service: str) -> str:
    return f"test-{service}-{uuid.uuid4().hex[:8]}:"


ALEMBIC_INI = Path(__file__).resolve().parents[4] / "alembic.ini"


def alembic_config(service: str, database_url: str) -> Config:
    """The repository's one alembic.ini, at the section of `service` (`alembic -n user`)."""
    config = Config(str(ALEMBIC_INI), ini_section=service)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def script_revisions(service: str) -> tuple[str, ...]:
    """The revisions of `service`'s migrations/versions, oldest first (one line of history)."""
    script = ScriptDirectory.from_config(alembic_config(service, ""))
    return tuple(reversed([revision.revision for revision in script.walk_revisions()]))


async def run_alembic(
    service: str, database_url: str, revision: str = "head", *, downgrade: bool = False
) -> None:
    """Run an upgrade or downgrade in a worker thread (Alembic's env runs its own loop)."""
    config = alembic_config(service, database_url)
    action = command.downgrade if downgrade else command.upgrade
    await asyncio.to_thread(action, config, revision)


@asynccontextmanager
async def temporary_database(name: str, migrations: str | None = None) -> AsyncIterator[str]:
    """A new database `test_<name>_<random>`, migrated to head with the Alembic section
    `migrations` (a service's name) when given, dropped afterwards."""
    server_url = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    database = f"test_{name}_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = server_url.set(database=database).render_as_string(hide_password=False)
        if migrations is not None:
            await run_alembic(migrations, url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await admin.dispose()


async def truncate_tables(engine: AsyncEngine, metadata: MetaData) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    if names:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


async def clean_redis(url: str, prefix: str) -> None:
    redis = create_redis(url, timeout=2.0)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def _state_per_request(app: ASGIApp) -> ASGIApp:
    """Give each request its own copy of the lifespan state, as uvicorn does (asgi-lifespan
    hands every request the same dict, so one request's values would leak into the next)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "state" in scope:
            scope = {**scope, "state": dict(scope["state"])}
        await app(scope, receive, send)

    return wrapped


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(_state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def _schema_diff(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def migration_drift(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    """Differences between the migrated database and the models; empty when they agree."""
    async with engine.connect() as conn:
        return await conn.run_sync(_schema_diff, metadata)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
