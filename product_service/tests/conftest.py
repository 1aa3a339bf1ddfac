"""Fixtures of the product-service tests: a migrated database per run, a clean slate per test,
and the contract's fake user service (`shop_contracts.testing`), knowing two users by token."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.config import Settings
from product_service.main import create_app
from product_service.models import Base, Product
from shop_common.testing.plugin import ServiceSpec
from shop_common.testing.secrets import strong_secret
from shop_contracts.testing import FakeUserService
from shop_contracts.user import TokenUser

INTERNAL_SECRET = strong_secret("product-internal")
USER_SERVICE_SECRET = strong_secret("user-internal")
ADA = TokenUser(id=uuid.uuid4(), email="ada@example.com", name="Ada")
BOB = TokenUser(id=uuid.uuid4(), email="bob@example.com", name="Bob")
ADA_TOKEN = "token-of-ada"
BOB_TOKEN = "token-of-bob"


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    return ServiceSpec("product", Base.metadata)


@pytest.fixture
def user_service() -> FakeUserService:
    users = FakeUserService(USER_SERVICE_SECRET)
    users.users.update({ADA_TOKEN: ADA, BOB_TOKEN: BOB})
    return users


@pytest.fixture
def make_settings(base_settings: dict[str, Any]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            **base_settings,
            "secret": INTERNAL_SECRET,
            "user_service_url": "http://user-service.test",
            "user_service_secret": USER_SERVICE_SECRET,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def app(settings: Settings, user_service: FakeUserService) -> FastAPI:
    return create_app(settings, user_transport=httpx.MockTransport(user_service))


def bearer(token: str = ADA_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def internal(secret: str = INTERNAL_SECRET) -> dict[str, str]:
    return {"X-Internal-Secret": secret}


async def create_product(
    client: httpx.AsyncClient, token: str = ADA_TOKEN, **fields: Any
) -> dict[str, Any]:
    body = {"name": f"Product {uuid.uuid4().hex[:8]}", "price": 1000, "stock": 10, **fields}
    response = await client.post("/api/v1/product/", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()["data"]
    return product


async def stored_product(db: AsyncSession, product_id: str) -> Product | None:
    """The row as committed now (not a copy from this session's identity map)."""
    return await db.get(Product, uuid.UUID(product_id), populate_existing=True)


async def existing_product(db: AsyncSession, product_id: str) -> Product:
    product = await stored_product(db, product_id)
    assert product is not None, f"product {product_id} is not in the database"
    return product


async def product_count(db: AsyncSession) -> int:
    return int((await db.execute(select(func.count()).select_from(Product))).scalar_one())
