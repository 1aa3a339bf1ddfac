"""With an internal port, internal routes and /metrics answer only there, public routes
only on the public port, and the probes on both; without one, everything shares a port.
The port is the one the request arrived on (ASGI `server`): `http://testserver` is the
public port (80), `INTERNAL` the internal one."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from shop_common.testing.fixtures import app_client

from .conftest import SECRET
from .testapp import CommonTestSettings, build_app

INTERNAL_PORT = 9001
INTERNAL = f"http://testserver:{INTERNAL_PORT}"
WITH_SECRET = {"X-Internal-Secret": SECRET}


@pytest.fixture
async def split_client(
    make_settings: Callable[..., CommonTestSettings],
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(build_app(make_settings(internal_port=INTERNAL_PORT))) as client:
        yield client


async def unknown_route(client: httpx.AsyncClient, base: str = "") -> httpx.Response:
    response = await client.get(f"{base}/nowhere/")
    assert response.status_code == 404
    return response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/internal/v1/ping/"),
        ("POST", "/internal/v1/ping"),
        ("GET", "/internal/openapi.json"),
        ("GET", "/metrics"),
        ("GET", "/metrics/"),
    ],
)
async def test_internal_routes_are_unknown_on_the_public_port(
    split_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await split_client.request(method, path, headers=WITH_SECRET)
    assert response.status_code == 404
    assert response.json() == (await unknown_route(split_client)).json()
    assert response.json()["code"] == "not_found"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]


async def test_internal_routes_answer_on_the_internal_port(
    split_client: httpx.AsyncClient,
) -> None:
    ping = await split_client.post(f"{INTERNAL}/internal/v1/ping/", headers=WITH_SECRET)
    assert ping.status_code == 200
    assert ping.json() == {"pong": True}
    metrics = await split_client.get(f"{INTERNAL}/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


async def test_the_internal_port_still_wants_the_secret(split_client: httpx.AsyncClient) -> None:
    response = await split_client.post(f"{INTERNAL}/internal/v1/ping/")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_internal_secret"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/request-id/"), ("POST", "/items/"), ("GET", "/docs"), ("GET", "/openapi.json")],
)
async def test_public_routes_are_unknown_on_the_internal_port(
    split_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await split_client.request(method, f"{INTERNAL}{path}", json={"name": "x"})
    assert response.status_code == 404
    assert response.json() == (await unknown_route(split_client, INTERNAL)).json()


@pytest.mark.parametrize("base", ["", INTERNAL])
@pytest.mark.parametrize("path", ["/health-check/", "/health-check", "/ready", "/ready/"])
async def test_probes_answer_on_both_ports(
    split_client: httpx.AsyncClient, base: str, path: str
) -> None:
    response = await split_client.get(f"{base}{path}")
    assert response.status_code == 200


async def test_public_routes_answer_on_the_public_port(split_client: httpx.AsyncClient) -> None:
    response = await split_client.get("/request-id/")
    assert response.status_code == 200
    assert (await split_client.get("/openapi.json")).status_code == 200


async def test_without_an_internal_port_everything_shares_one(
    client: httpx.AsyncClient,
) -> None:
    ping = await client.post("/internal/v1/ping/", headers=WITH_SECRET)
    assert ping.status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/request-id/")).status_code == 200
    # A port number alone changes nothing when the service has no internal port.
    assert (await client.get(f"{INTERNAL}/request-id/")).status_code == 200
