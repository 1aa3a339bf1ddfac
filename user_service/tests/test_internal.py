"""The internal token-resolution endpoint used by product and order."""

import httpx

from .conftest import INTERNAL_SECRET, PREVIOUS_SECRET, bearer, register

URL = "/internal/v1/token/"


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


async def test_internal_route_is_not_rate_limited(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"token": "x"}, headers={"X-Internal-Secret": "nope"})
    assert "RateLimit-Limit" not in response.headers
