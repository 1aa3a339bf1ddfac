"""Redis-backed rate limiting with the `limits` library (fixed windows, atomic in Redis).

`limits` gives us atomic counters shared by every replica and tested window strategies;
we add what it does not do: the client-IP rule for trusted proxies, named buckets from
settings, `RateLimit-*` / `Retry-After` headers, and fail-open when Redis is down.
"""

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop_common.errors import TooManyRequests
from shop_common.metrics import (
    RATE_LIMIT_BACKEND_ERRORS,
    RATE_LIMIT_BUCKETS,
    RATE_LIMIT_REJECTED,
)
from shop_common.settings import ServiceSettings

__all__ = ["RateLimitHeadersMiddleware", "RateLimiter", "client_ip", "rate_limit"]

logger = logging.getLogger(__name__)
_STATE_KEY = "rate_limit_headers"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(values: list[str]) -> list[Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def client_ip(request: Request, trusted: list[Network]) -> str:
    """The peer address, or the right-most untrusted `X-Forwarded-For` hop behind a proxy."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class RateLimiter:
    def __init__(self, redis: Redis, settings: ServiceSettings) -> None:
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # share our pool
            key_prefix=f"{settings.redis_prefix}limits",
        )
        self.strategy = FixedWindowRateLimiter(storage)
        self.enabled = settings.rate_limit_enabled
        self.service = settings.service_name
        self.trusted = _networks(settings.trusted_proxies)
        # Bucket `name` takes its limit from the setting `rate_limit_<name>`.
        self.items: dict[str, RateLimitItem] = {
            bucket: parse(getattr(settings, f"rate_limit_{bucket}"))
            for bucket in RATE_LIMIT_BUCKETS
        }

    async def hit(self, request: Request, bucket: str, key: str) -> None:
        """Count one request against `bucket` for `key`; raise 429 when over the limit."""
        if not self.enabled:
            return
        item = self.items[bucket]
        try:
            allowed = await self.strategy.hit(item, bucket, key)
            stats = await self.strategy.get_window_stats(item, bucket, key)
        except Exception as exc:  # fail open: a broken limiter must not take the API down
            RATE_LIMIT_BACKEND_ERRORS.labels(self.service).inc()
            logger.warning("rate limiter unavailable, request let through: %s", exc)
            return
        reset = _seconds_until(stats.reset_time)
        _remember(request, _headers(item, stats.remaining, reset))
        if not allowed:
            raise self.refusal(bucket, reset)

    async def consume(self, bucket: str, key: str) -> int | None:
        """Count one attempt atomically; seconds to wait when `bucket` is spent, else None."""
        if not self.enabled:
            return None
        item = self.items[bucket]
        try:
            if await self.strategy.hit(item, bucket, key):
                return None
            stats = await self.strategy.get_window_stats(item, bucket, key)
        except Exception:
            RATE_LIMIT_BACKEND_ERRORS.labels(self.service).inc()
            return None
        return _seconds_until(stats.reset_time)

    async def clear(self, bucket: str, key: str) -> None:
        """Forget what `key` spent of `bucket` (a successful login ends a failure streak)."""
        if not self.enabled:
            return
        try:
            await self.strategy.clear(self.items[bucket], bucket, key)
        except Exception:
            RATE_LIMIT_BACKEND_ERRORS.labels(self.service).inc()

    def refusal(self, bucket: str, retry_after: int, message: str | None = None) -> TooManyRequests:
        """The 429 for a spent `bucket`, with that bucket's own `RateLimit-*` headers."""
        RATE_LIMIT_REJECTED.labels(self.service, bucket).inc()
        headers = _headers(self.items[bucket], 0, retry_after)
        return TooManyRequests(message, headers={**headers, "Retry-After": str(retry_after)})


def _seconds_until(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def _headers(item: RateLimitItem, remaining: int, reset: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(reset),
    }


def _remember(request: Request, headers: dict[str, str]) -> None:
    """Keep the tightest limit seen for this request; the middleware writes it out."""
    current = request.scope.setdefault("state", {}).get(_STATE_KEY)
    if current is None or int(headers["RateLimit-Remaining"]) <= int(
        current["RateLimit-Remaining"]
    ):
        request.scope["state"][_STATE_KEY] = headers


def rate_limit(bucket: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency limiting the route per client IP in `bucket`."""

    async def dependency(request: Request) -> None:
        limiter: RateLimiter = request.app.state.limiter
        await limiter.hit(request, bucket, client_ip(request, limiter.trusted))

    return dependency


class RateLimitHeadersMiddleware:
    """Adds the `RateLimit-*` headers a route's limit produced to whatever response it sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                pending = scope.get("state", {}).get(_STATE_KEY)
                if pending:
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    extra = [
                        (k.lower().encode(), v.encode())
                        for k, v in pending.items()
                        if k.lower().encode() not in present
                    ]
                    message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
