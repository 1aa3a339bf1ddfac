"""The Redis client every service uses, and a JSON cache on it that never fails a request.

Timeouts are short (100 ms by default, for a pooled connection and for each command) and
retries are off: Redis backs rate limits, caches and the logout denylist, so a slow or dead
Redis must cost speed, never availability. Every use that goes on without Redis is counted
in `redis_fail_open_total{use}` (`redis_fail_open`).
"""

import json
import logging
from typing import Any

from pydantic import SecretStr
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shop_common.metrics import CACHE_REQUESTS, REDIS_FAIL_OPEN

__all__ = ["JsonCache", "create_redis", "redis_fail_open"]

logger = logging.getLogger(__name__)
MAX_CONNECTIONS = 200


def create_redis(
    url: str | SecretStr, *, timeout: float = 0.1, max_connections: int = MAX_CONNECTIONS
) -> "Redis":
    """A client on a blocking pool: when every connection is in use a command waits up to
    `timeout` for one to come back instead of failing at once (redis-py's default pool
    raises "Too many connections" immediately, which switched limits off under load)."""
    plain = url.get_secret_value() if isinstance(url, SecretStr) else url
    pool = BlockingConnectionPool.from_url(
        plain,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )
    return Redis.from_pool(pool)  # closing the client closes its pool


def redis_fail_open(service: str, use: str, exc: BaseException) -> None:
    """Record that Redis failed `use` and the request went on without it (the policy of each
    use is in docs/architecture.md, "Caches and limits"): one counter, one warning."""
    REDIS_FAIL_OPEN.labels(service, use).inc()
    logger.warning("redis unavailable for %s, going on without it: %s", use, exc)


class JsonCache:
    """A read-through helper: `get` / `set` / `delete` JSON values under `prefix + key`.

    Errors are logged and counted as `result="error"`; callers then fall back to the source.
    An unreadable entry is ignored and counted as `result="invalid"`, so the caller asks the
    source.
    """

    def __init__(
        self,
        redis: "Redis",
        *,
        prefix: str,
        name: str,
        service: str,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name
        self.service = service

    def key(self, key: str) -> str:
        return f"{self.prefix}{self.name}:{key}"

    async def get(self, key: str) -> Any | None:
        value, _ = await self.get_along(key)
        return value

    async def get_along(
        self, key: str, *others: str
    ) -> tuple[Any | None, list[bytes | str | None]]:
        """The entry `key`, and the raw values of the full Redis keys `others`, in one round
        trip (MGET); on a Redis failure, all missing."""
        try:
            raw, *rest = await self.redis.mget([self.key(key), *others])
        except Exception as exc:  # any Redis failure only costs speed
            self._count("error")
            logger.warning("cache %s get failed: %s", self.name, exc)
            return None, [None] * len(others)
        return self._read(raw), rest

    def _read(self, raw: bytes | str | None) -> Any | None:
        if raw is None:
            self._count("miss")
            return None
        value = self._decode(raw.encode() if isinstance(raw, str) else raw)
        self._count("invalid" if value is None else "hit")
        return value

    async def set(self, key: str, value: Any, *, ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            return
        try:
            await self.redis.set(self.key(key), self._encode(value), ex=ttl_seconds)
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

    @staticmethod
    def _encode(value: Any) -> bytes:
        return json.dumps(value, default=str).encode()

    def _decode(self, raw: bytes) -> Any | None:
        """The stored value, or None when it is unreadable."""
        try:
            return json.loads(raw)
        except ValueError:
            logger.warning("cache %s: an unreadable entry was ignored", self.name)
            return None

    def _count(self, result: str) -> None:
        CACHE_REQUESTS.labels(self.service, self.name, result).inc()
