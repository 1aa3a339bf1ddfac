"""The app around the orders: ops routes, OpenAPI, settings, error envelope."""

from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from order_service.config import Settings

from .conftest import ORDER_SECRET
from .fakes import USER_SECRET


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health-check/")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_metrics_expose_the_order_series(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/order/")
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/order",service="order",status="401"}'
        in text
    )
    assert REGISTRY.get_sample_value("db_pool_max", {"service": "order"}) == 50


async def test_openapi_documents_the_bearer_scheme_and_the_errors(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    create = schema["paths"]["/api/v1/order/"]["post"]
    assert {"201", "401", "404", "409", "422", "503"} <= set(create["responses"])
    delete = schema["paths"]["/api/v1/order/{id}/"]["delete"]
    assert {"200", "202", "404", "503"} <= set(delete["responses"])
    assert "/api/v1/order" not in schema["paths"]


async def test_unknown_route_and_wrong_method_use_the_error_envelope(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/nothing/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    wrong = await client.put("/api/v1/order/")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")


def test_settings_read_the_product_service_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDER_SERVICE_DATABASE_URL", "postgresql+asyncpg://db/orders")
    monkeypatch.setenv("PRODUCT_SERVICE_URL", "http://product:8002")
    monkeypatch.setenv("PRODUCT_SERVICE_SECRET", "p" * 40)
    monkeypatch.setenv("ENVIRONMENT", "development")
    settings = Settings()
    assert settings.product_service_url == "http://product:8002"
    assert settings.product_service_secret.get_secret_value() == "p" * 40
    assert settings.service_name == "order"


def test_a_grace_period_shorter_than_a_saga_step_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValueError, match="reconcile_grace_seconds must exceed 12 s"):
        make_settings(reconcile_grace_seconds=12, internal_timeout_seconds=2, internal_retries=2)


def test_a_missing_product_secret_refuses_to_start_outside_development() -> None:
    with pytest.raises(ValueError, match="product_service_secret"):
        Settings.model_validate(
            {
                "environment": "production",
                "database_url": "postgresql+asyncpg://db/orders",
                "secret": ORDER_SECRET,
                "user_service_secret": USER_SECRET,
            }
        )
