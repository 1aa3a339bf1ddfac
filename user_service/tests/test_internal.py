"""The internal token-resolution endpoint used by product and order."""

from collections.abc import Callable

import httpx

from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app

from .conftest import INTERNAL_SECRET, PREVIOUS_SECRET, bearer, register

URL = "/internal/v1/token/"
PROFILE = "/api/v1/profile/"


async def test_resolves_an_access_token_to_the_user(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.post(
        URL, json={"token": tokens["access"]}, headers={"X-Internal-Secret": INTERNAL_SECRET}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {"id", "email", "name"}
    assert data["email"] == "ada@example.com"


async def test_accepts_the_previous_secret_during_rotation(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.post(
        URL, json={"token": tokens["access"]}, headers={"X-Internal-Secret": PREVIOUS_SECRET}
    )
    assert response.status_code == 200


async def test_refuses_a_missing_or_wrong_secret_with_403(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    missing = await client.post(URL, json={"token": tokens["access"]})
    wrong = await client.post(
        URL, json={"token": tokens["access"]}, headers={"X-Internal-Secret": "nope"}
    )
    assert missing.status_code == wrong.status_code == 403
    assert missing.json()["code"] == "invalid_internal_secret"


async def test_refuses_a_bad_token_with_401(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    for token in ("garbage", tokens["refresh"]):
        response = await client.post(
            URL, json={"token": token}, headers={"X-Internal-Secret": INTERNAL_SECRET}
        )
        assert response.status_code == 401


async def test_refuses_a_logged_out_token(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    await client.post(
        "/api/v1/logout/",
        json={"refresh_token": tokens["refresh"]},
        headers=bearer(tokens["access"]),
    )
    response = await client.post(
        URL, json={"token": tokens["access"]}, headers={"X-Internal-Secret": INTERNAL_SECRET}
    )
    assert response.status_code == 401


async def test_internal_route_is_not_rate_limited_per_ip(
    make_settings: Callable[..., Settings],
) -> None:
    limit = 3
    app = create_app(make_settings(rate_limit_default=f"{limit}/minute"))
    async with app_client(app) as client:
        tokens = await register(client)  # spends one of the three public requests
        internal = [
            await client.post(
                URL,
                json={"token": tokens["access"]},
                headers={"X-Internal-Secret": INTERNAL_SECRET},
            )
            for _ in range(limit * 5)
        ]
        public = [await client.get(PROFILE, headers=bearer(tokens["access"])) for _ in range(limit)]
    assert [r.status_code for r in internal] == [200] * (limit * 5)
    assert all(r.json()["data"]["email"] == "ada@example.com" for r in internal)
    # The same client's public requests are limited: the low limit is in force.
    assert [r.status_code for r in public] == [200, 200, 429]
    assert public[-1].json()["code"] == "rate_limited"
    assert public[0].headers["RateLimit-Limit"] == str(limit)
    # Register spent one and this request another: the internal calls spent nothing.
    assert public[0].headers["RateLimit-Remaining"] == "1"
