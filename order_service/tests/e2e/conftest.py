"""The whole system in one process: the real user and product apps beside the order app.

Each neighbour gets its own throw-away database (migrated with its own Alembic config) and
Redis prefix. Calls between apps go through `httpx.ASGITransport`, so every hop runs the
real code: token resolution, internal secrets, the product service's locked reserve.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_service.config import Settings
from order_service.main import create_app
from product_service.config import Settings as ProductSettings
from product_service.main import create_app as create_product_app
from product_service.models import Base as ProductBase
from product_service.models import Product, Reservation
from shop_common.testing.fixtures import (
    clean_redis,
    redis_url_for_tests,
    temporary_database,
    truncate_tables,
    unique_prefix,
)
from shop_common.testing.secrets import strong_secret
from user_service.config import Settings as UserSettings
from user_service.main import create_app as create_user_app
from user_service.models import Base as UserBase

from ..conftest import order_settings
from ..fakes import PRODUCT_SECRET, USER_SECRET

PASSWORD = "Str0ng!Passw0rd"
NO_LIMITS = {
    "rate_limit_default": "100000/minute",
    "rate_limit_auth": "100000/minute",
    "rate_limit_login_account": "100000/minute",
    "rate_limit_write": "100000/minute",
}
# The three pools together stay under this PostgreSQL's max_connections (100); a request
# beyond its pool waits for a connection, and no step holds one across an HTTP call.
ORDER_POOL = {"db_pool_size": 20, "db_max_overflow": 20}
# All three apps share this one event loop (httpx.ASGITransport), so a burst of 100 orders
# makes every internal call wait its turn for the CPU: give each attempt more than the 2 s a
# real deployment gets (and the reconciler's grace, which must outlast the attempts, too).
IN_PROCESS_TIMEOUTS = {"internal_timeout_seconds": 15.0, "reconcile_grace_seconds": 120.0}
PRODUCT_POOL = {"db_pool_size": 20, "db_max_overflow": 10}
USER_POOL = {"db_pool_size": 5, "db_max_overflow": 5}


@dataclass(frozen=True)
class Neighbour:
    url: str
    engine: AsyncEngine
    prefix: str


@asynccontextmanager
async def _neighbour(name: str) -> AsyncIterator[Neighbour]:
    async with temporary_database(name, name) as url:
        engine = create_async_engine(url, pool_size=2)
        try:
            yield Neighbour(url, engine, unique_prefix(name))
        finally:
            await engine.dispose()


@pytest.fixture(scope="session")
async def user_side() -> AsyncIterator[Neighbour]:
    async with _neighbour("user") as neighbour:
        yield neighbour


@pytest.fixture(scope="session")
async def product_side() -> AsyncIterator[Neighbour]:
    async with _neighbour("product") as neighbour:
        yield neighbour


def _user_app(side: Neighbour) -> FastAPI:
    settings = UserSettings.model_validate(
        {
            "environment": "test",
            "database_url": side.url,
            "redis_url": redis_url_for_tests(),
            "redis_prefix": side.prefix,
            "secret": USER_SECRET,
            "jwt_secret": strong_secret("user-jwt"),
            **NO_LIMITS,
            **USER_POOL,
        }
    )
    return create_user_app(settings)


def _product_app(side: Neighbour, users: httpx.AsyncBaseTransport) -> FastAPI:
    settings = ProductSettings.model_validate(
        {
            "environment": "test",
            "database_url": side.url,
            "redis_url": redis_url_for_tests(),
            "redis_prefix": side.prefix,
            "secret": PRODUCT_SECRET,
            "user_service_secret": USER_SECRET,
            **NO_LIMITS,
            **PRODUCT_POOL,
            "internal_timeout_seconds": IN_PROCESS_TIMEOUTS["internal_timeout_seconds"],
        }
    )
    return create_product_app(settings, user_transport=users)


@dataclass(frozen=True)
class System:
    users: httpx.AsyncClient
    products: httpx.AsyncClient
    orders: httpx.AsyncClient
    order_app: FastAPI
    product_db: AsyncEngine
    make_order_app: Callable[..., FastAPI]
    product_transport: httpx.AsyncBaseTransport


async def _serve(stack: AsyncExitStack, app: FastAPI) -> httpx.ASGITransport:
    """Run the app's lifespan until the stack closes; a transport into it."""
    running = await stack.enter_async_context(LifespanManager(app))
    return httpx.ASGITransport(app=running.app)


async def _client(
    stack: AsyncExitStack, transport: httpx.AsyncBaseTransport, name: str
) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=transport, base_url=f"http://{name}")
    return await stack.enter_async_context(client)


def _order_apps(
    settings: Settings, users: httpx.AsyncBaseTransport, products: httpx.AsyncBaseTransport
) -> Callable[..., FastAPI]:
    """Order apps wired to the neighbours; a test may put another transport before products."""

    def make(product_transport: httpx.AsyncBaseTransport = products) -> FastAPI:
        return create_app(settings, user_transport=users, product_transport=product_transport)

    return make


@pytest.fixture
async def system(
    database_url: str, redis_prefix: str, user_side: Neighbour, product_side: Neighbour
) -> AsyncIterator[System]:
    try:
        async with AsyncExitStack() as stack:
            user_transport = await _serve(stack, _user_app(user_side))
            product_transport = await _serve(stack, _product_app(product_side, user_transport))
            make_order_app = _order_apps(
                order_settings(
                    database_url, redis_prefix, **ORDER_POOL, **NO_LIMITS, **IN_PROCESS_TIMEOUTS
                ),
                user_transport,
                product_transport,
            )
            order_app = make_order_app()
            yield System(
                users=await _client(stack, user_transport, "user"),
                products=await _client(stack, product_transport, "product"),
                orders=await _client(stack, await _serve(stack, order_app), "order"),
                order_app=order_app,
                product_db=product_side.engine,
                make_order_app=make_order_app,
                product_transport=product_transport,
            )
    finally:
        await _clean(user_side, UserBase.metadata)
        await _clean(product_side, ProductBase.metadata)


async def _clean(side: Neighbour, metadata: MetaData) -> None:
    await truncate_tables(side.engine, metadata)
    await clean_redis(redis_url_for_tests(), side.prefix)


async def register(system: System, name: str) -> dict[str, str]:
    body = {"email": f"{name}@example.com", "password": PASSWORD, "name": name}
    response = await system.users.post("/api/v1/register/", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access']}"}


async def create_product(
    system: System, headers: dict[str, str], *, stock: int, price: int = 1000
) -> uuid.UUID:
    body = {"name": f"Product {uuid.uuid4().hex[:8]}", "price": price, "stock": stock}
    response = await system.products.post("/api/v1/product/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


async def stock_of(system: System, product_id: uuid.UUID) -> int:
    async with system.product_db.connect() as conn:
        stock = await conn.scalar(select(Product.stock).where(Product.id == product_id))
    assert stock is not None
    return int(stock)


async def held_reservations(system: System) -> int:
    """Reservations on the product side that still hold stock."""
    async with system.product_db.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.released_at.is_(None))
        )
    return int(count or 0)
