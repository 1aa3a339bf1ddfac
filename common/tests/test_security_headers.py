"""Security headers on every answer, no-store on authenticated ones, and a 405's `Allow`
listing every method of the path."""

import httpx
import pytest

from .conftest import ORIGIN, SECRET


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/request-id/", 200),
        ("/errors/Unauthorized/", 401),
        ("/nowhere/", 404),
        ("/page/?limit=0", 422),
        ("/errors/TooManyRequests/", 429),
        ("/crash/", 500),
        ("/errors/ServiceUnavailable/", 503),
        ("/docs", 200),
    ],
)
async def test_every_answer_has_the_security_headers(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert_security_headers(response)
    assert "Cache-Control" not in response.headers or path == "/docs"


async def test_a_201_has_the_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.post("/items/", json={"name": "a"})
    assert response.status_code == 201
    assert_security_headers(response)


async def test_a_refused_preflight_has_the_security_headers(client: httpx.AsyncClient) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = await client.options("/echo/", headers=headers)
    assert response.status_code == 400
    assert_security_headers(response)
    ok = await client.options("/echo/", headers={**headers, "Origin": ORIGIN})
    assert ok.status_code == 200
    assert_security_headers(ok)


async def test_internal_routes_are_no_store(client: httpx.AsyncClient) -> None:
    response = await client.post("/internal/v1/ping/", headers={"X-Internal-Secret": SECRET})
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
    refused = await client.post("/internal/v1/ping/")
    assert refused.status_code >= 400
    assert refused.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("path", "status"), [("/request-id/", 200), ("/crash/", 500)])
async def test_authenticated_answers_are_no_store(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path, headers={"Authorization": "Bearer x"})
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/items/", 201),
        ("POST", "/echo/", 422),
        ("DELETE", "/items/", 405),
        ("PATCH", "/nowhere/", 404),
    ],
)
async def test_answers_to_requests_that_change_state_are_no_store(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, json={"name": "a"} if status == 201 else {})
    assert response.status_code == status
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
