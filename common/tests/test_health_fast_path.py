"""Issue 12: a plain liveness probe is answered by the request-id layer, without walking
the metrics, CORS, rate-limit and routing layers, and still answers as the contract says:
200 `{"status": "ok"}`, the request id echoed, the security headers."""

import httpx
import pytest

from .conftest import ORIGIN, JsonLines

GENERATED_ID_LENGTH = 32


@pytest.mark.parametrize("path", ["/health-check/", "/health-check"])
async def test_a_probe_is_answered_before_the_metrics_layer(
    client: httpx.AsyncClient, log_lines: JsonLines, path: str
) -> None:
    """The metrics layer writes one access line per request it sees: a probe writes none."""
    response = await client.get(path, headers={"X-Request-ID": "probe-1"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"] == "probe-1"
    assert response.headers["Content-Type"] == "application/json"
    assert [line for line in log_lines.lines if line["logger"] == "shop.access"] == []


async def test_a_probe_has_the_security_headers_and_a_fresh_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health-check/", headers={"X-Request-ID": "has space"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Cache-Control" not in response.headers
    assert len(response.headers["X-Request-ID"]) == GENERATED_ID_LENGTH
    authorised = await client.get("/health-check/", headers={"Authorization": "Bearer x"})
    assert authorised.headers["Cache-Control"] == "no-store"


async def test_a_probe_from_a_browser_still_gets_its_cors_answer(
    client: httpx.AsyncClient, log_lines: JsonLines
) -> None:
    response = await client.get("/health-check/", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()
    assert len(log_lines.matching("GET /health-check/ 200")) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/health-check/", 405), ("GET", "/health-check/x", 404), ("GET", "/ready", 200)],
)
async def test_other_ops_answers_are_unchanged(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if status >= 400:
        assert set(response.json()) >= {"message", "code"}


async def test_metrics_are_still_served(client: httpx.AsyncClient) -> None:
    await client.get("/health-check/")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text
