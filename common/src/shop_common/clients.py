"""Typed HTTP clients for calls between services, built on one `httpx.AsyncClient` each.

`ServiceClient` adds what every internal call needs: the callee's shared secret, the
caller's `X-Request-ID`, a timeout, retries with backoff for idempotent calls, metrics per
target/operation/outcome, and one rule for failures: a dead or failing callee becomes
`ServiceUnavailable` (503), never a 500 and never a hang.

`UserServiceClient` resolves bearer tokens through the user service for product and order,
caching each answer in Redis under a hash of the token.
"""

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field, SecretStr
from redis.asyncio import Redis

from shop_common.errors import ServiceUnavailable, Unauthorized
from shop_common.logs import REQUEST_ID_HEADER, current_request_id
from shop_common.metrics import INTERNAL_CLIENT_DURATION, INTERNAL_CLIENT_REQUESTS
from shop_common.redis import JsonCache
from shop_common.security import INTERNAL_SECRET_HEADER, BearerTokenDep
from shop_common.settings import ServiceSettings

__all__ = [
    "CLIENT_LIMITS",
    "USER_CALL_ATTEMPTS",
    "AuthenticatedUser",
    "CurrentUserDep",
    "ServiceClient",
    "UserServiceClient",
    "UserServiceSettings",
    "WriterDep",
    "call_budget_seconds",
    "user_client_hook",
]

logger = logging.getLogger(__name__)
TOKEN_CACHE_MAX_SECONDS = 30
# Connection pool of every internal client (and of any transport put under one).
CLIENT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
# A token check is idempotent: tried this often before the caller gets a 503.
USER_CALL_ATTEMPTS = 3


class ServiceClient:
    """Base of the typed clients: subclasses add one method per remote operation."""

    target = "service"

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        service: str,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.05,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        # httpx's timeouts bound each phase (connect, every read); this bounds the attempt.
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            headers={INTERNAL_SECRET_HEADER: secret},
            transport=transport,
            limits=CLIENT_LIMITS,
        )

    def call_budget_seconds(self, *, idempotent: bool = True) -> float:
        return call_budget_seconds(
            self.timeout, (self.retries if idempotent else 0) + 1, backoff=self.backoff
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(
        self, operation: str, path: str, body: Any, *, idempotent: bool
    ) -> httpx.Response:
        """POST `body`; answers below 500 are returned, anything else raises 503.

        A timeout, a reset or a 5xx means the call may or may not have taken effect on the
        callee: only idempotent calls are retried, and a caller must never assume it did not.
        At most `call_budget_seconds()` pass before this returns or raises.
        """
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(attempts):
            outcome, response = await self._attempt(operation, path, body)
            if response is not None and outcome != "server_error":
                return response
            if attempt + 1 < attempts:
                await asyncio.sleep(self.backoff * 2**attempt)
        logger.warning(
            "%s %s failed after %d attempt(s): %s", self.target, operation, attempts, outcome
        )
        raise ServiceUnavailable(
            f"The {self.target} service is unavailable, try again shortly",
            code=f"{self.target}_service_unavailable",
        )

    async def _attempt(
        self, operation: str, path: str, body: Any
    ) -> tuple[str, httpx.Response | None]:
        started = time.perf_counter()
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.post(
                    path, json=body, headers={REQUEST_ID_HEADER: current_request_id()}
                )
            outcome = _outcome(response.status_code)
        except (httpx.TimeoutException, TimeoutError):
            outcome = "timeout"
        except httpx.HTTPError:
            outcome = "unavailable"
        INTERNAL_CLIENT_DURATION.labels(self.service, self.target, operation).observe(
            time.perf_counter() - started
        )
        INTERNAL_CLIENT_REQUESTS.labels(self.service, self.target, operation, outcome).inc()
        return outcome, response

    def misconfigured(self, response: httpx.Response) -> ServiceUnavailable:
        """A 403 from a callee means our secret is wrong: an operator problem, not the user's."""
        logger.error(
            "%s service refused our internal secret (HTTP %s)", self.target, response.status_code
        )
        return ServiceUnavailable(
            f"The {self.target} service refused this service's credentials",
            code=f"{self.target}_service_unavailable",
        )


def call_budget_seconds(timeout: float, attempts: int, *, backoff: float = 0.05) -> float:
    """The longest an internal call takes: every attempt timing out, plus the backoffs."""
    waits = [backoff * 2.0**n for n in range(attempts - 1)]
    return attempts * timeout + sum(waits)


def _outcome(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "success"


class AuthenticatedUser(BaseModel):
    id: uuid.UUID
    email: str
    name: str = ""


class UserServiceSettings(ServiceSettings):
    """Settings of a service that authenticates its callers through the user service."""

    user_service_url: str = Field("http://localhost:8001", validation_alias="USER_SERVICE_URL")
    user_service_secret: SecretStr = Field(SecretStr(""), validation_alias="USER_SERVICE_SECRET")
    internal_timeout_seconds: float = 2.0

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "user_service_secret"]


class UserServiceClient(ServiceClient):
    target = "user"

    def __init__(
        self, base_url: str, secret: str, *, redis: Redis, prefix: str, service: str, **kwargs: Any
    ) -> None:
        super().__init__(base_url, secret, service=service, **kwargs)
        self.cache = JsonCache(redis, prefix=prefix, name="token", service=service)

    async def resolve_token(self, token: str) -> AuthenticatedUser:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = await self.cache.get(key)
        if cached is not None:
            return AuthenticatedUser.model_validate(cached)
        response = await self.post(
            "resolve_token", "/internal/v1/token/", {"token": token}, idempotent=True
        )
        if response.status_code in (401, 422):
            raise Unauthorized("Invalid or expired token", code="invalid_token")
        if response.status_code != 200:
            raise self.misconfigured(response)
        user = AuthenticatedUser.model_validate(response.json()["data"])
        ttl = min(TOKEN_CACHE_MAX_SECONDS, _seconds_until_expiry(token))
        await self.cache.set(key, user.model_dump(mode="json"), ttl_seconds=ttl)
        return user


def _seconds_until_expiry(token: str) -> int:
    """The token's remaining life from its `exp` claim, read only to cap the cache TTL.

    The user service has verified the token already; an unreadable claim means no caching.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"] - time.time())
    except (IndexError, KeyError, TypeError, ValueError):
        return 0


def user_client_hook(
    settings: UserServiceSettings, transport: httpx.AsyncBaseTransport | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A start-up hook that puts a `UserServiceClient` on `app.state.user_client`."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        client = UserServiceClient(
            settings.user_service_url,
            settings.user_service_secret.get_secret_value(),
            redis=app.state.redis,
            prefix=settings.redis_prefix,
            service=settings.service_name,
            timeout=settings.internal_timeout_seconds,
            retries=USER_CALL_ATTEMPTS - 1,
            transport=transport,
        )
        app.state.user_client = client
        try:
            yield
        finally:
            await client.aclose()

    return hook


async def current_user(request: Request, token: BearerTokenDep) -> AuthenticatedUser:
    client: UserServiceClient = request.app.state.user_client
    return await client.resolve_token(token)


CurrentUserDep = Annotated[AuthenticatedUser, Depends(current_user)]


async def current_writer(request: Request, user: CurrentUserDep) -> AuthenticatedUser:
    """The current user, after counting this write against their `write` rate-limit bucket."""
    await request.app.state.limiter.hit(request, "write", str(user.id))
    return user


WriterDep = Annotated[AuthenticatedUser, Depends(current_writer)]
