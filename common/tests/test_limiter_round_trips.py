"""Issue 12: a rate-limited request costs one Redis round trip for its limit (the count and
the seconds left come back together), counted with MONITOR on this run's keys."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from shop_common.redis import create_redis
from shop_common.testing.fixtures import redis_url_for_tests

SETTLE = 0.2  # seconds for MONITOR to start and to drain; only makes the count complete


@asynccontextmanager
async def commands_on(prefix: str) -> AsyncIterator[list[list[Any]]]:
    """The commands clients send (not those a script runs) that name a key of `prefix`."""
    redis = create_redis(redis_url_for_tests(), timeout=2.0)
    seen: list[list[Any]] = []
    try:
        async with redis.monitor() as monitor:

            async def listen() -> None:
                async for entry in monitor.listen():
                    if entry.get("client_type") != "lua" and prefix in entry["command"]:
                        seen.append(entry["command"].split())

            reader = asyncio.create_task(listen())
            await asyncio.sleep(SETTLE)
            yield seen
            await asyncio.sleep(SETTLE)
            reader.cancel()
    finally:
        await redis.aclose()


async def test_a_rate_limited_request_makes_one_round_trip(
    client: httpx.AsyncClient, redis_prefix: str
) -> None:
    await client.get("/limited/")  # the connection is opened outside the count
    async with commands_on(redis_prefix) as seen:
        response = await client.get("/limited/")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == str(
        int(response.headers["RateLimit-Limit"]) - 2
    )
    assert len(seen) == 1, seen
