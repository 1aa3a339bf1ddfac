"""CORS: listed origins only, refused preflights in the error envelope, and internal routes
left out entirely (browsers never call them)."""

import httpx
import pytest

from .conftest import ORIGIN, SECRET

OTHER_ORIGIN = "https://evil.example"


def preflight(origin: str, method: str = "POST", headers: str = "Content-Type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def cors_headers(response: httpx.Response) -> set[str]:
    return {k.lower() for k in response.headers if k.lower().startswith("access-control-")}


async def test_a_listed_origins_preflight_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.options("/echo/", headers=preflight(ORIGIN, headers="Authorization"))
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_a_listed_origins_request_can_read_the_request_id_and_limits(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/echo/", json={"name": "a", "quantity": 1}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"x-request-id", "retry-after", "ratelimit-remaining"} <= exposed


async def test_another_origin_gets_no_allow_origin(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo/", json={"name": "a", "quantity": 1}, headers={"Origin": OTHER_ORIGIN}
    )
    assert response.status_code == 200  # the browser, not the server, withholds the answer
    assert response.json() == {"data": {"name": "a", "quantity": 1}}
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (preflight(OTHER_ORIGIN), "Disallowed CORS origin"),
        (preflight(ORIGIN, method="TRACE"), "Disallowed CORS method"),
        (preflight(ORIGIN, headers="X-Internal-Secret"), "Disallowed CORS headers"),
    ],
    ids=["origin", "method", "internal-secret-header"],
)
async def test_a_refused_preflight_is_the_error_envelope(
    client: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    response = await client.options("/echo/", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"message": message, "code": "cors_refused"}
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Request-ID"]


async def test_internal_routes_get_no_cors_headers(client: httpx.AsyncClient) -> None:
    answered = await client.post(
        "/internal/v1/ping/", headers={"Origin": ORIGIN, "X-Internal-Secret": SECRET}
    )
    assert answered.status_code == 200
    assert answered.json() == {"pong": True}
    assert cors_headers(answered) == set()
    # No preflight is answered for them either: the OPTIONS reaches the router (405).
    refused = await client.options("/internal/v1/ping/", headers=preflight(ORIGIN))
    assert refused.status_code == 405
    assert refused.json() == {"message": "Method Not Allowed", "code": "method_not_allowed"}
    assert cors_headers(refused) == set()


async def test_an_internal_route_without_the_secret_is_403(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Internal-Secret": "wrong"}):
        response = await client.post("/internal/v1/ping/", headers=headers)
        assert response.status_code == 403
        assert response.json() == {
            "message": "Missing or invalid internal secret",
            "code": "invalid_internal_secret",
        }


async def test_a_500_to_a_listed_origin_is_readable_by_the_browser(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/crash/", headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "code": "internal_error"}
    assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
