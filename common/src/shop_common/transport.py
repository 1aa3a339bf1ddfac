"""The seam under `ServiceClient`: how one POST reaches a callee, and how it can fail.

Production sends through `AiohttpTransport`, one long-lived `aiohttp.ClientSession` per
client: on this machine it costs a fraction of httpx's CPU per call (docs/performance.md,
"Internal calls"). Tests and in-process apps give the client an httpx transport instead
(`httpx.MockTransport`, `httpx.ASGITransport`), carried by `HttpxTransport`.

Every transport answers `(status, body)` or raises one of three failures, the only ones
`ServiceClient` tells apart: `CallNotSent` (nothing reached the callee: it cannot have
acted), `CallInterrupted` (the connection broke once the request may have been sent) and
`TimeoutError` (no answer in time). Either of the last two may have taken effect.
"""

from collections.abc import Mapping
from typing import Protocol

import aiohttp
import httpx

__all__ = [
    "KEEPALIVE_SECONDS",
    "MAX_CONNECTIONS",
    "AiohttpTransport",
    "CallInterrupted",
    "CallNotSent",
    "HttpxTransport",
    "Transport",
]

# The connection pool of every internal client.
MAX_CONNECTIONS = 200
# An idle connection is dropped before the callee's server drops it (uvicorn: 5 s), so a
# request is never written into a connection the other side is closing.
KEEPALIVE_SECONDS = 4.0


class CallNotSent(Exception):
    """The request never reached the callee: the connection was refused or not made."""


class CallInterrupted(Exception):
    """The connection broke or the answer was garbled after the request may have been sent."""


class Transport(Protocol):
    """Sends one request to `path` under the callee's base URL and reads the whole answer:
    a POST of `content`, or a GET when `content` is None."""

    async def send(
        self, path: str, content: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One `aiohttp.ClientSession` for the client's life; create it inside the event loop."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS)
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers=dict(headers),
            # Bounds per phase; `ServiceClient` bounds the whole attempt.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=min(timeout, 1.0), sock_read=timeout
            ),
        )

    async def send(
        self, path: str, content: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        method = "GET" if content is None else "POST"
        try:
            async with self.session.request(
                method, self.base_url + path, data=content, headers=headers
            ) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise CallNotSent(str(exc)) from exc
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            raise CallInterrupted(str(exc)) from exc

    async def aclose(self) -> None:
        await self.session.close()


class HttpxTransport:
    """An `httpx.AsyncClient` over the transport given (tests' fakes, in-process apps)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        )

    async def send(
        self, path: str, content: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        method = "GET" if content is None else "POST"
        try:
            response = await self.http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.ConnectError as exc:
            raise CallNotSent(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise CallInterrupted(str(exc)) from exc
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self.http.aclose()
