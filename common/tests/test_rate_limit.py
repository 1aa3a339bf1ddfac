"""The Redis rate limiter: `RateLimit-*` headers, a 429 envelope with `Retry-After` once a
bucket is spent, counters in this run's Redis keys, and fail-open when Redis is down."""

import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from shop_common.redis import create_redis
from shop_common.testing.fixtures import app_client, redis_url_for_tests

from .conftest import served
from .testapp import CommonTestSettings, build_app


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "common", **labels}) or 0.0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def limiter_keys(prefix: str) -> list[bytes]:
    redis = create_redis(redis_url_for_tests(), timeout=2.0)
    try:
        return [key async for key in redis.scan_iter(match=f"{prefix}limits*")]
    finally:
        await redis.aclose()


async def test_each_answer_carries_the_remaining_allowance(
    make_settings: Callable[..., CommonTestSettings], redis_prefix: str
) -> None:
    async with app_client(build_app(make_settings(rate_limit_default="3/minute"))) as client:
        responses = [await client.get("/limited/") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json() == {"ok": True} for r in responses)
    assert [r.headers["RateLimit-Limit"] for r in responses] == ["3", "3", "3"]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert all(1 <= int(r.headers["RateLimit-Reset"]) <= 60 for r in responses)
    assert len(await limiter_keys(redis_prefix)) == 1  # one counter, under this run's prefix


async def test_a_hit_is_one_redis_round_trip(
    make_settings: Callable[..., CommonTestSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: the count and the window's time left come back from one script call (the
    `limits` strategy took three commands: the script, GET and TTL)."""
    commands: list[str] = []
    original: Callable[..., Awaitable[object]] = Redis.execute_command

    async def counting(self: Redis, *args: object, **options: object) -> object:
        commands.append(str(args[0]))
        return await original(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", counting)
    async with app_client(build_app(make_settings(rate_limit_default="3/minute"))) as client:
        await client.get("/limited/")  # the first call may load the script
        commands.clear()
        response = await client.get("/limited/")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "1"
    assert commands == ["EVALSHA"]


async def test_a_spent_bucket_is_429_with_retry_after(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    before = metric("rate_limit_rejected_total", bucket="default")
    async with app_client(build_app(make_settings(rate_limit_default="2/minute"))) as client:
        allowed = [await client.get("/limited/") for _ in range(2)]
        refused = await client.get("/limited/")
    assert [r.status_code for r in allowed] == [200, 200]
    assert refused.status_code == 429
    assert refused.json() == {"message": "Too many requests, slow down", "code": "rate_limited"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "2"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]
    assert metric("rate_limit_rejected_total", bucket="default") - before == 1


async def test_routes_without_a_limit_carry_no_rate_limit_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/page/")
    assert response.status_code == 200
    assert not {k for k in response.headers if k.lower().startswith("ratelimit-")}


async def test_under_uvicorn_a_requests_limit_headers_stay_on_its_own_response(
    app: FastAPI,
) -> None:
    async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
        limited = await client.get("/limited/")
        unlimited = await client.get("/page/")
    assert limited.status_code == 200
    assert limited.headers["RateLimit-Limit"] == "10000"
    assert unlimited.status_code == 200
    assert "RateLimit-Limit" not in unlimited.headers


async def test_under_app_client_a_requests_limit_headers_stay_on_its_own_response(
    client: httpx.AsyncClient,
) -> None:
    limited = await client.get("/limited/")
    unlimited = await client.get("/page/")
    assert limited.status_code == 200
    assert limited.headers["RateLimit-Limit"] == "10000"
    assert unlimited.status_code == 200
    assert "RateLimit-Limit" not in unlimited.headers


async def test_a_disabled_limiter_lets_everything_through(
    make_settings: Callable[..., CommonTestSettings], redis_prefix: str
) -> None:
    settings = make_settings(rate_limit_default="1/minute", rate_limit_enabled=False)
    async with app_client(build_app(settings)) as client:
        statuses = [(await client.get("/limited/")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert await limiter_keys(redis_prefix) == []


async def test_with_redis_down_requests_pass_and_readiness_says_so(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    before = metric("rate_limit_backend_errors_total")
    dead_redis = f"redis://127.0.0.1:{closed_port()}/0"
    settings = make_settings(rate_limit_default="1/minute", redis_url=dead_redis)
    async with app_client(build_app(settings)) as client:
        responses = [await client.get("/limited/") for _ in range(3)]
        ready = await client.get("/ready/")
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all("RateLimit-Limit" not in r.headers for r in responses)
    assert metric("rate_limit_backend_errors_total") - before == 3
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
