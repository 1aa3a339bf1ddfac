"""Authentication through the user service, against a mocked one for each failure mode."""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.config import Settings
from product_service.main import create_app
from shop_common.testing.fixtures import app_client
from shop_contracts.testing import FakeUserService

from .conftest import (
    ADA,
    ADA_TOKEN,
    USER_SERVICE_SECRET,
    bearer,
    create_product,
    product_count,
)

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[[Handler], AbstractAsyncContextManager[httpx.AsyncClient]]
NEW_PRODUCT = {"name": "Lamp", "price": 100}


@pytest.fixture
def client_with(make_settings: Callable[..., Settings]) -> ClientFactory:
    """A client of an app whose user service answers with `handler`."""

    @asynccontextmanager
    async def build(handler: Handler) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(), user_transport=httpx.MockTransport(handler))
        async with app_client(app) as client:
            yield client

    return build


async def test_the_token_is_resolved_with_this_services_user_secret(
    client: httpx.AsyncClient, user_service: FakeUserService
) -> None:
    response = await client.post("/api/v1/product/", json=NEW_PRODUCT, headers=bearer())

    assert response.status_code == 201
    request = user_service.requests[-1]
    assert request.url.path == "/internal/v1/token/"
    assert request.headers["X-Internal-Secret"] == USER_SERVICE_SECRET
    assert json.loads(request.content) == {"token": ADA_TOKEN}
    assert response.json()["data"]["creator_id"] == str(ADA.id)


async def test_a_token_the_user_service_refuses_is_401(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/api/v1/product/", json=NEW_PRODUCT, headers=bearer("revoked-token")
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"message": "Invalid or expired token", "code": "invalid_token"}
    assert await product_count(db) == 0


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token-of-ada"])
async def test_a_malformed_authorization_header_is_401_without_asking_the_user_service(
    client: httpx.AsyncClient, user_service: FakeUserService, header: str
) -> None:
    response = await client.post(
        "/api/v1/product/", json=NEW_PRODUCT, headers={"Authorization": header}
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert user_service.requests == []


def _server_error(_: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"message": "boom", "code": "internal_error"})


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _connection_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _secret_refused(_: httpx.Request) -> httpx.Response:
    return httpx.Response(403, json={"message": "Bad secret", "code": "forbidden"})


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_server_error, "The user service is unavailable, try again shortly"),
        (_timeout, "The user service is unavailable, try again shortly"),
        (_connection_refused, "The user service is unavailable, try again shortly"),
        (_secret_refused, "The user service refused this service's credentials"),
    ],
    ids=["5xx", "timeout", "connection-error", "403-bad-secret"],
)
async def test_a_failing_user_service_is_503_with_the_error_envelope(
    client_with: ClientFactory,
    db: AsyncSession,
    handler: Handler,
    message: str,
) -> None:
    async with client_with(handler) as client:
        response = await client.post("/api/v1/product/", json=NEW_PRODUCT, headers=bearer())

    assert response.status_code == 503
    assert response.json() == {"message": message, "code": "user_service_unavailable"}
    assert await product_count(db) == 0


async def test_public_reads_never_ask_the_user_service(
    client: httpx.AsyncClient, user_service: FakeUserService
) -> None:
    response = await client.get("/api/v1/product/")

    assert response.status_code == 200
    assert user_service.requests == []


async def test_an_over_long_bearer_token_is_401_and_deletes_nothing(
    client: httpx.AsyncClient, user_service: FakeUserService, db: AsyncSession
) -> None:
    product = await create_product(client)
    asked = len(user_service.requests)

    response = await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer("a" * 5000))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"message": "Invalid or expired token", "code": "invalid_token"}
    assert len(user_service.requests) == asked
    assert await product_count(db) == 1
