"""The base of the typed HTTP clients for calls between services, one long-lived session each.

`ServiceClient` adds what every internal call needs: the callee's shared secret, the
caller's `X-Request-ID`, a timeout, retries with backoff for idempotent calls, metrics per
target/operation/outcome, and one rule for failures: a dead or failing callee becomes
`ServiceUnavailable` (503), never a 500 and never a hang. It sends through aiohttp, or
through the httpx transport a test or an in-process app gives it (`shop_common.transport`),
and answers a `ServiceResponse` either way. The clients of each callee, and the models of
what they send and receive, are in the `shop_contracts` package.
"""

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from shop_common.errors import AppError, ServiceUnavailable
from shop_common.logs import REQUEST_ID_HEADER, current_request_id
from shop_common.metrics import INTERNAL_CLIENT_DURATION, INTERNAL_CLIENT_REQUESTS
from shop_common.security import INTERNAL_SECRET_HEADER
from shop_common.transport import (
    AiohttpTransport,
    CallInterrupted,
    CallNotSent,
    HttpxTransport,
    Transport,
)

__all__ = ["ServiceClient", "ServiceResponse", "call_budget_seconds"]

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """A callee's answer below 500.

    `earlier_attempt_unknown` is set when an attempt before this one failed in a way that
    may have taken effect (a timeout, a reset, a 5xx): the callee may have acted on it
    although this answer refuses.
    """

    status_code: int
    content: bytes
    earlier_attempt_unknown: bool = False

    def json(self) -> Any:
        """The body as JSON; a `ValueError` when it is not."""
        return json.loads(self.content)


class ServiceClient:
    """Base of the typed clients: subclasses add one method per remote operation.

    Create it inside the event loop (in `lifespan`) and close it at shutdown: without a
    `transport` it opens one aiohttp session, with one (an httpx transport: tests' fakes,
    in-process apps) it sends through that instead.
    """

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
        # The transports bound each phase (connect, every read); this bounds the attempt.
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        headers = {INTERNAL_SECRET_HEADER: secret, **JSON_HEADERS}
        self.transport: Transport = (
            AiohttpTransport(base_url, headers, timeout=timeout)
            if transport is None
            else HttpxTransport(base_url, headers, timeout=timeout, transport=transport)
        )

    def call_budget_seconds(self, *, idempotent: bool = True) -> float:
        return call_budget_seconds(
            self.timeout, (self.retries if idempotent else 0) + 1, backoff=self.backoff
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def post(
        self, operation: str, path: str, body: Any, *, idempotent: bool
    ) -> ServiceResponse:
        """POST `body`; answers below 500 are returned, anything else raises 503.

        A timeout, a reset or a 5xx means the call may or may not have taken effect on the
        callee: only idempotent calls are retried, and a caller must never assume it did not.
        A refused connection sent nothing. At most `call_budget_seconds()` pass before this
        returns or raises.
        """
        content = _encode(body)
        attempts = 1 + (self.retries if idempotent else 0)
        unknown = False
        for attempt in range(attempts):
            outcome, answer, sent = await self._attempt(operation, path, content)
            if answer is not None and outcome != "server_error":
                return ServiceResponse(*answer, earlier_attempt_unknown=unknown)
            unknown = unknown or sent
            if attempt + 1 < attempts:
                await asyncio.sleep(self.backoff * 2**attempt)
        logger.warning(
            "%s %s failed after %d attempt(s): %s", self.target, operation, attempts, outcome
        )
        raise self._unavailable()

    async def get(
        self, operation: str, path: str, params: Mapping[str, str | int]
    ) -> ServiceResponse:
        """GET `path?params` once: an answer below 500 is returned, anything else raises 503.

        Neither retried nor logged: a GET between services is a poll, which its caller
        repeats on its own schedule and reports once.
        """
        query = f"{path}?{urlencode(params)}" if params else path
        outcome, answer, _ = await self._attempt(operation, query, None)
        if answer is None or outcome == "server_error":
            raise self._unavailable()
        return ServiceResponse(*answer)

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"The {self.target} service is unavailable, try again shortly",
            code=f"{self.target}_service_unavailable",
        )

    async def _attempt(
        self, operation: str, path: str, content: bytes | None
    ) -> tuple[str, tuple[int, bytes] | None, bool]:
        """The outcome's metric label, the answer if any, and whether the callee may have
        seen the request."""
        started = time.perf_counter()
        answer: tuple[int, bytes] | None = None
        sent = True
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.transport.send(
                    path, content, {REQUEST_ID_HEADER: current_request_id()}
                )
            outcome = _outcome(answer[0])
        except TimeoutError:
            outcome = "timeout"
        except (CallNotSent, CallInterrupted) as exc:
            outcome, sent = "unavailable", isinstance(exc, CallInterrupted)
        INTERNAL_CLIENT_DURATION.labels(self.service, self.target, operation).observe(
            time.perf_counter() - started
        )
        INTERNAL_CLIENT_REQUESTS.labels(self.service, self.target, operation, outcome).inc()
        return outcome, answer, sent

    def outgoing(self, model: type[M], data: Mapping[str, Any], refusal: AppError) -> Any:
        """The JSON body of a call, `data` checked against the callee's `model`. Data the
        callee would refuse is the caller's error, `refusal`: never a 500, never a call."""
        try:
            return model.model_validate(data).model_dump(mode="json")
        except ValidationError as exc:
            raise refusal from exc

    def parse(self, response: ServiceResponse, model: type[M]) -> M:
        """The `data` of a success envelope as `model`; anything unreadable is a 503."""
        try:
            return model.model_validate(response.json()["data"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            logger.error("%s service sent an unreadable answer: %s", self.target, exc)
            raise ServiceUnavailable(
                f"The {self.target} service sent an unreadable answer",
                code=f"{self.target}_service_unavailable",
            ) from exc

    def misconfigured(self, response: ServiceResponse) -> ServiceUnavailable:
        """A 403 from a callee means our secret is wrong: an operator problem, not the user's."""
        logger.error(
            "%s service refused our internal secret (HTTP %s)", self.target, response.status_code
        )
        return ServiceUnavailable(
            f"The {self.target} service refused this service's credentials",
            code=f"{self.target}_service_unavailable",
        )


def _encode(body: Any) -> bytes:
    """Compact UTF-8 JSON, as httpx's `json=` sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def call_budget_seconds(timeout: float, attempts: int, *, backoff: float = 0.05) -> float:
    """The longest an internal call takes: every attempt timing out, plus the backoffs."""
    waits = [backoff * 2.0**n for n in range(attempts - 1)]
    return attempts * timeout + sum(waits)


def _outcome(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "success"
