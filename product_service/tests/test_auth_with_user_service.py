"""Authentication against the real user-service app, run in-process on its own database."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from product_service.config import Settings
from product_service.main import create_app
from shop_common.testing import fixtures
from shop_common.testing.fixtures import app_client, temporary_database
from shop_common.testing.secrets import strong_secret

# user_service has no py.typed marker yet: typed only when mypy is given its sources too.
from user_service.config import Settings as UserSettings
from user_service.main import create_app as create_user_app

from .conftest import bearer

USER_SECRET = strong_secret("user-internal-real")
PASSWORD = "Str0ng!Passw0rd"


@pytest.fixture(scope="module")
async def user_app(redis_prefix: str) -> AsyncIterator[FastAPI]:
    """The user service with its lifespan running, on a database of its own."""
    async with temporary_database("user", "user") as url:
        settings = UserSettings(
            environment="test",
            database_url=SecretStr(url),
            redis_url=SecretStr(fixtures.redis_url_for_tests()),  # by name it would be collected
            redis_prefix=f"{redis_prefix}user:",
            secret=SecretStr(USER_SECRET),
            jwt_secret=SecretStr(strong_secret("user-jwt")),
            rate_limit_default="10000/minute",
            rate_limit_auth="10000/minute",
        )
        app = create_user_app(settings)
        async with LifespanManager(app):  # the app keeps what its start-up made on app.state
            yield app


@pytest.fixture
async def both(
    user_app: FastAPI, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of the user app and of a product app that resolves tokens through it."""
    transport = httpx.ASGITransport(app=user_app)
    product_app = create_app(
        make_settings(user_service_secret=USER_SECRET), user_transport=transport
    )
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://user") as users,
        app_client(product_app) as products,
    ):
        yield users, products


async def register(users: httpx.AsyncClient, email: str) -> str:
    body = {"email": email, "password": PASSWORD, "name": "Real"}
    response = await users.post("/api/v1/register/", json=body)
    assert response.status_code == 201, response.text
    token: str = response.json()["data"]["access"]
    return token


async def test_a_real_access_token_creates_a_product_owned_by_its_user(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    users, products = both
    token = await register(users, "real-owner@example.com")
    profile = (await users.get("/api/v1/profile/", headers=bearer(token))).json()["data"]

    response = await products.post(
        "/api/v1/product/", json={"name": "Real lamp", "price": 10}, headers=bearer(token)
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["creator_id"] == profile["id"]


async def test_a_token_the_real_user_service_refuses_is_401(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, products = both

    response = await products.post(
        "/api/v1/product/", json={"name": "Lamp", "price": 10}, headers=bearer("not.a.jwt")
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "invalid_token"


async def test_a_wrong_secret_for_the_real_user_service_is_503(
    user_app: FastAPI, make_settings: Callable[..., Settings]
) -> None:
    transport = httpx.ASGITransport(app=user_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://user") as users:
        token = await register(users, "wrong-secret@example.com")
    app = create_app(
        make_settings(user_service_secret=strong_secret("another")), user_transport=transport
    )

    async with app_client(app) as products:
        response = await products.post(
            "/api/v1/product/", json={"name": "Lamp", "price": 10}, headers=bearer(token)
        )

    assert response.status_code == 503
    assert response.json()["code"] == "user_service_unavailable"
