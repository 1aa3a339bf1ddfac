"""The base of the typed HTTP clients for calls between services, one `httpx.AsyncClient` each.

`ServiceClient` adds what every internal call needs: the callee's shared secret, the
caller's `X-Request-ID`, a timeout, retries with backoff for idempotent calls, metrics per
target/operation/outcome, and one rule for failures: a dead or failing callee becomes
`ServiceUnavailable` (503), never a 500 and never a hang. The clients of each callee, and
the models of what they send and receive, are in the `shop_contracts` package.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shop_common.errors import ServiceUnavailable
from shop_common.logs import REQUEST_ID_HEADER, current_request_id
from shop_common.metrics import INTERNAL_CLIENT_DURATION, INTERNAL_CLIENT_REQUESTS
from shop_common.security import INTERNAL_SECRET_HEADER

__all__ = ["CLIENT_LIMITS", "ServiceClient", "call_budget_seconds", "earlier_attempt_unknown"]

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# Connection pool of every internal client (and of any transport put under one).
CLIENT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


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
        At most `call_budget_seconds()` pass before this returns or raises. A response after
        such a failed attempt is marked (`earlier_attempt_unknown`): the callee may have
        acted on an earlier attempt although this one refused.
        """
        attempts = 1 + (self.retries if idempotent else 0)
        unknown = False
        for attempt in range(attempts):
            outcome, response = await self._attempt(operation, path, body)
            if response is not None and outcome != "server_error":
                response.extensions[_EARLIER_UNKNOWN] = unknown
                return response
            unknown = True
            if attempt + 1 < attempts:
                await asyncio.sleep(self.backoff * 2**attempt)
        logger.warning(
            "%s %s failed after %d attempt(s): %s", self.target, operation, attempts, outcome
        )
        raise self._unavailable()

    async def get(
        self, operation: str, path: str, params: Mapping[str, str | int]
    ) -> httpx.Response:
        """GET `path?params` once: an answer below 500 is returned, anything else raises 503.

        Neither retried nor logged: a GET between services is a poll, which its caller
        repeats on its own schedule and reports once.
        """
        outcome, response = await self._attempt(operation, path, None, method="GET", params=params)
        if response is None or outcome == "server_error":
            raise self._unavailable()
        return response

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"The {self.target} service is unavailable, try again shortly",
            code=f"{self.target}_service_unavailable",
        )

    async def _attempt(
        self,
        operation: str,
        path: str,
        body: Any,
        *,
        method: str = "POST",
        params: Mapping[str, str | int] | None = None,
    ) -> tuple[str, httpx.Response | None]:
        started = time.perf_counter()
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.request(
                    method,
                    path,
                    json=body,
                    params=params,
                    headers={REQUEST_ID_HEADER: current_request_id()},
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

    def parse(self, response: httpx.Response, model: type[M]) -> M:
        """The `data` of a success envelope as `model`; anything unreadable is a 503."""
        try:
            return model.model_validate(response.json()["data"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            logger.error("%s service sent an unreadable answer: %s", self.target, exc)
            raise ServiceUnavailable(
                f"The {self.target} service sent an unreadable answer",
                code=f"{self.target}_service_unavailable",
            ) from exc

    def misconfigured(self, response: httpx.Response) -> ServiceUnavailable:
        """A 403 from a callee means our secret is wrong: an operator problem, not the user's."""
        logger.error(
            "%s service refused our internal secret (HTTP %s)", self.target, response.status_code
        )
        return ServiceUnavailable(
            f"The {self.target} service refused this service's credentials",
            code=f"{self.target}_service_unavailable",
        )


_EARLIER_UNKNOWN = "shop_earlier_attempt_unknown"


def earlier_attempt_unknown(response: httpx.Response) -> bool:
    """True when an attempt before this response failed in a way that may have taken
    effect (a timeout, a reset, a 5xx)."""
    return bool(response.extensions.get(_EARLIER_UNKNOWN, False))


def call_budget_seconds(timeout: float, attempts: int, *, backoff: float = 0.05) -> float:
    """The longest an internal call takes: every attempt timing out, plus the backoffs."""
    waits = [backoff * 2.0**n for n in range(attempts - 1)]
    return attempts * timeout + sum(waits)


def _outcome(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "success"
