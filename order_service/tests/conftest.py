"""Fixtures of the order-service tests: a migrated database per run, a clean slate per test,
and the app wired to in-memory user and product services (see `fakes.py`)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from order_service import service
from order_service.config import Settings
from order_service.context import OrderContext, connection
from order_service.main import create_app
from order_service.models import Base, IdempotencyKey, Order
from order_service.schemas import OrderLine, OrderRead
from shop_common.testing.fixtures import redis_url_for_tests
from shop_common.testing.plugin import ServiceSpec
from shop_common.testing.secrets import strong_secret
from shop_contracts.product import ReservationRead
from shop_contracts.testing import FakeUserService

from .fakes import PRODUCT_SECRET, USER_SECRET, FakeProducts

ORDER_SECRET = strong_secret("order-internal")
ORDERS = "/api/v1/order/"
# Enough connections for 100 concurrent requests in every app of a test.
POOL = {"db_pool_size": 20, "db_max_overflow": 30}


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    return ServiceSpec("order", Base.metadata)


def order_settings(database_url: str, redis_prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url_for_tests(),
        "redis_prefix": redis_prefix,
        "secret": ORDER_SECRET,
        "user_service_secret": USER_SECRET,
        "product_service_secret": PRODUCT_SECRET,
        "rate_limit_default": "10000/minute",
        "rate_limit_write": "10000/minute",
        "reconciler_enabled": False,
        "idempotency_wait_seconds": 3.0,
        "poll_interval_seconds": 0.01,
        **POOL,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_settings(database_url: str, redis_prefix: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        return order_settings(database_url, redis_prefix, **overrides)

    return build


@pytest.fixture
def users() -> FakeUserService:
    return FakeUserService(USER_SECRET)


def _signed_up(users: FakeUserService, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    user, token = users.add(name)
    return user.id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def products() -> FakeProducts:
    return FakeProducts()


@pytest.fixture
def make_app(
    make_settings: Callable[..., Settings], users: FakeUserService, products: FakeProducts
) -> Callable[..., FastAPI]:
    """An app on the fake services, with settings overridden as given."""

    def build(**overrides: Any) -> FastAPI:
        return create_app(
            make_settings(**overrides),
            user_transport=users.transport(),
            product_transport=httpx.MockTransport(products.handle),
        )

    return build


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def ctx(app: FastAPI, client: httpx.AsyncClient) -> OrderContext:
    """The running app's saga context (what the reconciler is called with)."""
    orders: OrderContext = app.state.orders
    return orders


@pytest.fixture
def ada(users: FakeUserService) -> tuple[uuid.UUID, dict[str, str]]:
    return _signed_up(users, "ada")


@pytest.fixture
def bob(users: FakeUserService) -> tuple[uuid.UUID, dict[str, str]]:
    return _signed_up(users, "bob")


async def place(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    product_id: uuid.UUID,
    quantity: object = 1,
) -> httpx.Response:
    return await client.post(
        ORDERS, json={"product_id": str(product_id), "quantity": quantity}, headers=headers
    )


async def placed_id(
    client: httpx.AsyncClient, headers: dict[str, str], product_id: uuid.UUID, quantity: int = 1
) -> uuid.UUID:
    response = await place(client, headers, product_id, quantity)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


async def pending_order(
    ctx: OrderContext,
    user_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: int = 1,
    key: str | None = None,
) -> uuid.UUID:
    """A create that died right after step 1: its `pending` row is committed, nothing more."""
    async with connection(ctx) as conn:
        started = await service.start_order(
            conn,
            user_id=user_id,
            lines=[OrderLine(product_id=product_id, quantity=quantity)],
            key=key,
            now=datetime.now(UTC),
            key_ttl_seconds=3600,
        )
    assert isinstance(started, service.Started)
    return started.order_id


async def straggling_confirm(
    ctx: OrderContext, user_id: uuid.UUID, order_id: uuid.UUID, reservation: ReservationRead
) -> OrderRead | None:
    """What a create step slower than everything else would do: confirm with `reservation`."""
    lines = [OrderLine(product_id=i.product_id, quantity=i.quantity) for i in reservation.items]
    started = service.Started(order_id, datetime.now(UTC))
    async with connection(ctx) as conn:
        return await service.confirm_order(
            conn,
            user_id=user_id,
            started=started,
            lines=lines,
            reservation=reservation,
            now=datetime.now(UTC),
        )


async def age(db: AsyncSession, order_id: uuid.UUID, seconds: float) -> None:
    """Make the order look untouched for `seconds`."""
    then = datetime.now(UTC) - timedelta(seconds=seconds)
    await db.execute(update(Order).where(Order.id == order_id).values(modified_at=then))
    await db.commit()


async def stored_order(db: AsyncSession, order_id: uuid.UUID) -> Order:
    db.expire_all()
    order = await db.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.items))
        .execution_options(populate_existing=True)
    )
    assert order is not None
    return order


async def orders_by_status(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(select(Order.status, func.count()).group_by(Order.status))
    return {row[0]: row[1] for row in rows}


async def key_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)
