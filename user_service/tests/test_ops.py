"""Ops behaviour every service shares, exercised on the user service: health, readiness,
errors for unknown routes, request ids, CORS, rate limits and metrics."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.app import create_service_app
from shop_common.routing import ShopRouter
from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import User

from .conftest import PASSWORD, bearer, register

ORIGIN = "http://localhost:3000"
DEAD_REDIS = "redis://127.0.0.1:1/0"


async def test_health_check_answers_ok_on_both_path_forms(client: httpx.AsyncClient) -> None:
    for path in ("/health-check/", "/health-check"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


async def test_ready_reports_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_unknown_route_and_wrong_method_use_the_error_envelope(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/nothing-here/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await client.delete("/api/v1/login/")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_paths_work_without_trailing_slash_and_without_redirect(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    response = await client.get("/api/v1/profile", headers=bearer(tokens["access"]))
    assert response.status_code == 200


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health-check/", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    generated = await client.get("/health-check/")
    assert len(generated.headers["X-Request-ID"]) == 32


async def test_cors_preflight_from_an_allowed_origin_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/profile/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "idempotency-key" in allowed


async def test_cors_gives_other_origins_nothing(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/profile/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 400
    assert preflight.json()["code"] == "cors_refused"
    simple = await client.get("/health-check/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in simple.headers


async def test_cors_exposes_request_id_and_rate_limit_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health-check/", headers={"Origin": ORIGIN})
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    for header in ("x-request-id", "retry-after", "ratelimit-remaining"):
        assert header in exposed


async def test_auth_bucket_answers_429_with_retry_after(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(rate_limit_auth="3/minute"))
    async with app_client(app) as client:
        body = {"email": "ada@example.com", "password": "Wr0ng!Password"}
        answers = [await client.post("/api/v1/login/", json=body) for _ in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Remaining"] == "2"
    limited = answers[-1]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["code"] == "rate_limited"


async def test_failed_logins_are_limited_per_account(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(rate_limit_login_account="2/minute"))
    async with app_client(app) as client:
        await register(client)
        wrong = {"email": "ada@example.com", "password": "Wr0ng!Password"}
        codes = [(await client.post("/api/v1/login/", json=wrong)).status_code for _ in range(3)]
        right = await client.post(
            "/api/v1/login/", json={"email": "ada@example.com", "password": PASSWORD}
        )
    assert codes == [401, 401, 429]
    assert right.status_code == 429
    assert right.headers["RateLimit-Limit"] == "2"
    assert right.headers["RateLimit-Remaining"] == "0"
    assert int(right.headers["Retry-After"]) >= 1


async def _logins_from_rotating_forwarded_for(app: FastAPI) -> list[int]:
    """Status of three failed logins, each claiming another X-Forwarded-For address
    (the test client's own address is 203.0.113.10)."""
    body = {"email": "ada@example.com", "password": "Wr0ng!Password"}
    async with app_client(app) as client:
        return [
            (
                await client.post(
                    "/api/v1/login/", json=body, headers={"X-Forwarded-For": f"198.51.100.{i}"}
                )
            ).status_code
            for i in range(3)
        ]


async def test_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_key(
    make_settings: Callable[..., Settings],
) -> None:
    codes = await _logins_from_rotating_forwarded_for(
        create_app(make_settings(rate_limit_auth="2/minute"))
    )
    assert codes == [401, 401, 429]


async def test_forwarded_for_from_a_trusted_proxy_is_the_key(
    make_settings: Callable[..., Settings],
) -> None:
    codes = await _logins_from_rotating_forwarded_for(
        create_app(make_settings(rate_limit_auth="2/minute", trusted_proxies="203.0.113.0/24"))
    )
    assert codes == [401, 401, 401]


async def test_with_redis_unreachable_requests_pass_and_ready_is_503(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(redis_url=DEAD_REDIS, rate_limit_auth="1/minute"))
    async with app_client(app) as client:
        first = await register(client, "ada@example.com")
        await register(client, "bob@example.com")
        profile = await client.get("/api/v1/profile/", headers=bearer(first["access"]))
        ready = await client.get("/ready")
        metrics = await client.get("/metrics")
    assert profile.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    assert 'rate_limit_backend_errors_total{service="user"}' in metrics.text


async def test_metrics_label_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/profile/")
    await client.get("/api/v1/definitely/unknown")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert (
        'http_requests_total{method="GET",route="/api/v1/profile",service="user",status="401"}'
        in text
    )
    assert 'route="unmatched"' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_password_and_hash_never_reach_a_response_or_a_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = await register(client)
    responses = [
        await client.post(
            "/api/v1/login/", json={"email": "ada@example.com", "password": PASSWORD}
        ),
        await client.get("/api/v1/profile/", headers=bearer(tokens["access"])),
        await client.patch(
            "/api/v1/profile/", json={"name": "A"}, headers=bearer(tokens["access"])
        ),
    ]
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    for response in responses:
        assert "$argon2" not in response.text
        assert PASSWORD not in response.text
    assert "$argon2" not in logged
    assert PASSWORD not in logged
    assert "/api/v1/profile/" in logged  # the access log did run


def test_settings_refuse_placeholder_secrets_outside_development(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        make_settings(environment="production", jwt_secret="change-me")
    with pytest.raises(ValidationError, match="secret"):
        make_settings(environment="production", secret="")
    assert make_settings(environment="development", secret="", jwt_secret="").environment


async def test_openapi_offers_bearer_authorization(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    assert "/api/v1/register/" in schema["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200


async def test_internal_routes_are_left_out_of_cors(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/internal/v1/token/",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.json()["code"] == "method_not_allowed"


async def test_docs_answer_with_and_without_trailing_slash(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/docs/"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text  # the UI's files come from the service itself
        assert "/docs-assets/swagger-ui-bundle.js" in page.text
    bundle = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text
    for path in ("/openapi.json", "/openapi.json/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "/api/v1/login/" in response.json()["paths"]


async def test_nul_character_in_a_body_is_a_422_not_a_500(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/api/v1/register/",
        json={"email": "ada@example.com", "password": PASSWORD, "name": "A\u0000da"},
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"loc": ["body", "name"], "msg": "must not contain NUL characters"}
    ]
    assert await db.scalar(select(func.count()).select_from(User)) == 0


async def test_a_body_over_the_size_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    big = {"email": "ada@example.com", "password": PASSWORD, "name": "x" * 300_000}
    response = await client.post("/api/v1/register/", json=big)
    assert response.status_code == 413
    assert response.json()["code"]


async def test_with_the_database_down_requests_get_503_and_ready_says_so(
    make_settings: Callable[..., Settings],
) -> None:
    dead = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    app = create_app(make_settings(database_url=dead))
    async with app_client(app) as client:
        response = await client.post(
            "/api/v1/register/", json={"email": "ada@example.com", "password": PASSWORD}
        )
        ready = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"


async def test_an_unexpected_error_is_a_500_envelope_that_keeps_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    boom = ShopRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("kaboom")

    app = create_service_app(settings, routers=[boom])
    async with app_client(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "rid-500"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "code": "internal_error"}
    assert response.headers["X-Request-ID"] == "rid-500"
    assert "kaboom" not in response.text


async def test_a_chunked_body_over_the_size_limit_is_refused_with_413(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "ada@example.com", "name": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    response = await client.post(
        "/api/v1/register/", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_concurrent_wrong_passwords_cannot_pass_the_account_limit(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(rate_limit_login_account="5/minute"))
    async with app_client(app) as client:
        await register(client)
        wrong = {"email": "ada@example.com", "password": "Wr0ng!Password"}
        answers = await asyncio.gather(
            *(client.post("/api/v1/login/", json=wrong) for _ in range(30))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [401] * 5 + [429] * 25


async def test_a_successful_login_clears_the_failure_count(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(rate_limit_login_account="2/minute"))
    async with app_client(app) as client:
        await register(client)
        wrong = {"email": "ada@example.com", "password": "Wr0ng!Password"}
        right = {"email": "ada@example.com", "password": PASSWORD}
        codes = [
            (await client.post("/api/v1/login/", json=body)).status_code
            for body in (wrong, right, wrong, right)
        ]
    assert codes == [401, 200, 401, 200]
