"""The Redis client every service uses, and a JSON cache on it that never fails a request.

Timeouts are short (100 ms by default) and retries are off: Redis backs a rate limiter and
caches, so a slow or dead Redis must cost speed, never availability.
"""

import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shop_common.metrics import CACHE_REQUESTS

__all__ = ["JsonCache", "create_redis"]

logger = logging.getLogger(__name__)


def create_redis(url: str, *, timeout: float = 0.1) -> "Redis":
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
        max_connections=200,
    )


class JsonCache:
    """A read-through helper: `get` / `set` / `delete` JSON values under `prefix + key`.

    Errors are logged and counted as `result="error"`; callers then fall back to the source.
    """

    def __init__(self, redis: "Redis", *, prefix: str, name: str, service: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name
        self.service = service

    def key(self, key: str) -> str:
        return f"{self.prefix}{self.name}:{key}"

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self.redis.get(self.key(key))
        except Exception as exc:  # any Redis failure only costs speed
            self._count("error")
            logger.warning("cache %s get failed: %s", self.name, exc)
            return None
        self._count("hit" if raw is not None else "miss")
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, *, ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            return
        try:
            await self.redis.set(self.key(key), json.dumps(value, default=str), ex=ttl_seconds)
        except Exception as exc:
            logger.warning("cache %s set failed: %s", self.name, exc)

    async def delete(self, key: str) -> bool:
        """Delete the entry; False when Redis could not be reached."""
        try:
            await self.redis.delete(self.key(key))
        except Exception as exc:
            logger.warning("cache %s delete failed: %s", self.name, exc)
            return False
        return True

    def _count(self, result: str) -> None:
        CACHE_REQUESTS.labels(self.service, self.name, result).inc()
