"""The product app as a whole: ops routes, OpenAPI, rate-limit headers and metrics."""

import uuid
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from product_service.config import Settings

from .conftest import INTERNAL_SECRET, USER_SERVICE_SECRET, create_product, internal
from .stock.helpers import reserve


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    health = await client.get("/health-check/")
    ready = await client.get("/ready")

    assert health.json() == {"status": "ok"}
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_unknown_routes_use_the_error_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/products/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_openapi_documents_every_route_and_the_bearer_scheme(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert {
        "/api/v1/product/",
        "/api/v1/product/{id}/",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    patch = schema["paths"]["/api/v1/product/{id}/"]["patch"]
    assert {"401", "403", "404", "409", "412", "422"} <= set(patch["responses"])
    assert patch["security"] == [{"HTTPBearer": []}]


async def test_public_routes_carry_rate_limit_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/product/")

    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in response.headers


async def test_internal_routes_are_not_rate_limited(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/v1/stock/release/", json={"order_id": str(uuid.uuid4())}, headers=internal()
    )

    assert response.status_code == 200
    assert "RateLimit-Limit" not in response.headers


async def test_metrics_export_reservations_and_cache_series(client: httpx.AsyncClient) -> None:
    product = await create_product(client, stock=1)
    await client.get(f"/api/v1/product/{product['id']}/")
    await reserve(client, uuid.uuid4(), [(product["id"], 1)])

    text = (await client.get("/metrics")).text

    assert 'stock_reservations_total{outcome="reserved",service="product"}' in text
    assert 'cache_requests_total{cache="product",result="miss",service="product"}' in text
    assert 'route="/api/v1/product/{id}"' in text


@pytest.mark.parametrize("field", ["secret", "user_service_secret"])
def test_settings_refuse_a_placeholder_secret_outside_development(
    make_settings: Callable[..., Settings], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        make_settings(environment="production", **{field: "change-me"})


def test_settings_read_the_product_prefix_and_the_user_service_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRODUCT_SERVICE_DATABASE_URL", "postgresql+asyncpg://db/product")
    monkeypatch.setenv("PRODUCT_SERVICE_SECRET", INTERNAL_SECRET)
    monkeypatch.setenv("USER_SERVICE_URL", "http://users:8001")
    monkeypatch.setenv("USER_SERVICE_SECRET", USER_SERVICE_SECRET)

    settings = Settings()

    assert settings.database_url.get_secret_value() == "postgresql+asyncpg://db/product"
    assert settings.secret.get_secret_value() == INTERNAL_SECRET
    assert settings.user_service_url == "http://users:8001"
    assert settings.user_service_secret.get_secret_value() == USER_SERVICE_SECRET
    assert settings.service_name == "product"
