"""Pytest plugin (loaded with `-p shop_common.testing.plugin`) giving every service the same
database, Redis, settings and client fixtures. A service's `conftest.py` defines
`service_spec`, `make_settings` (its settings from keyword overrides) and `app`.

Fixtures: `database_url` (a database made and migrated for this run), `engine`, `db` (a
session for asserting on state), `redis_prefix` (this run's Redis key prefix),
`base_settings` (the settings values every service's tests start from), `settings` (the
service's `make_settings()`), `client` (an httpx client into the running `app`) and an
autouse clean-up that empties the tables and this run's keys after every test.
"""

import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shop_common.logs import JsonFormatter
from shop_common.settings import ServiceSettings
from shop_common.testing.fixtures import (
    app_client,
    clean_redis,
    redis_url_for_tests,
    temporary_database,
    truncate_tables,
    unique_prefix,
)

__all__ = ["ServiceSpec"]


@dataclass(frozen=True)
class ServiceSpec:
    """The service under test: its name (also its section of alembic.ini) and models."""

    name: str
    metadata: MetaData


@pytest.fixture(scope="session")
async def database_url(service_spec: ServiceSpec) -> AsyncIterator[str]:
    async with temporary_database(service_spec.name, service_spec.name) as url:
        yield url


@pytest.fixture(scope="session")
def redis_prefix(service_spec: ServiceSpec) -> str:
    return unique_prefix(service_spec.name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A separate session for asserting on what the requests committed."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture(autouse=True)
async def _clean_slate(
    engine: AsyncEngine, service_spec: ServiceSpec, redis_prefix: str
) -> AsyncIterator[None]:
    yield
    await truncate_tables(engine, service_spec.metadata)
    await clean_redis(redis_url_for_tests(), redis_prefix)


@pytest.fixture
def base_settings(database_url: str, redis_prefix: str) -> dict[str, Any]:
    """Settings values every service's tests start from: this run's database and Redis
    prefix, the test environment, and limits high enough not to get in the way."""
    return {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url_for_tests(),
        "redis_prefix": redis_prefix,
        "rate_limit_enabled": True,
        "rate_limit_default": "10000/minute",
        "rate_limit_auth": "10000/minute",
        "rate_limit_login_account": "10000/minute",
        "rate_limit_write": "10000/minute",
    }


@pytest.fixture
def settings(make_settings: Callable[..., ServiceSettings]) -> ServiceSettings:
    return make_settings()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client into `app`, its lifespan running for the test."""
    async with app_client(app) as client:
        yield client


def pytest_configure(config: pytest.Config) -> None:
    """With SHOP_TEST_LOG_FILE set, every log record of the run is also written there as the
    services write it (JSON, extras included), for the secret scan of ./run_unit_test.sh."""
    path = os.environ.get("SHOP_TEST_LOG_FILE")
    if path:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(JsonFormatter("test"))
        handler.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(handler)
