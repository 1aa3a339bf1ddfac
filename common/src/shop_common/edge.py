"""The edge every request crosses on its way to a route: one pure-ASGI pass.

`EdgeMiddleware` does, in request order:

1. the request id (`shop_common.logs`): a sane incoming `X-Request-ID` or a new one, kept in
   the context variable every log line reads, echoed on the response;
2. the liveness fast path: a plain `GET /health-check/` (no `Origin`) is answered here, with
   no metrics and no access line;
3. the metrics and the access log line (`shop_common.metrics`), around everything below;
4. the listener split (`shop_common.listeners`), with an internal port: a route of the other
   port is the 404 of an unknown route;
5. CORS, outside `/internal/` (browsers never call internal routes): Starlette's policy,
   with a refused preflight answered in the error envelope;
6. unhandled errors: a database failure that escaped the handlers is a 503, anything else a
   500 in the envelope, logged once with its traceback;
7. the `RateLimit-*` headers a route's limit produced (`shop_common.rate_limit`);
8. the body limit: a body over `max_body_bytes` is a 413, at once from `Content-Length`,
   else as the chunks arrive;

and, on every answer, the security headers (`shop_common.headers`). The answer's headers
are added innermost step first (rate limit, CORS, request id, security). One pass, one send
wrapper: the request's headers are read once from the raw scope list, and what every answer
carries is encoded once, at import.
"""

import os
import time
from collections.abc import Collection, Sequence

from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop_common.errors import error_response
from shop_common.headers import NO_STORE, SECURITY_HEADERS
from shop_common.listeners import Surface, arrived_on, not_found, surface_of
from shop_common.logs import (
    VALID_ID,
    bind_request_id,
    log_error_after_start,
    reset_request_id,
    unhandled_error_response,
)
from shop_common.metrics import HttpMetrics, route_label
from shop_common.rate_limit import forget_rate_limit_headers, pending_rate_limit_headers
from shop_common.security import INTERNAL_PREFIX

__all__ = [
    "CORS_ALLOWED_HEADERS",
    "CORS_EXPOSED_HEADERS",
    "HEALTH_BODY",
    "MAX_BODY_BYTES",
    "EdgeMiddleware",
    "EnvelopeCORS",
]

# Bodies here are small JSON documents; a larger one is refused (413) before it is parsed.
MAX_BODY_BYTES = 256 * 1024
TOO_LARGE = f"Request body over {MAX_BODY_BYTES // 1024} KiB"
# The body FastAPI renders for the liveness route, byte for byte.
HEALTH_BODY = b'{"status":"ok"}'
HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(HEALTH_BODY)).encode()),
    (b"vary", b"Origin"),  # as CORS marks the full answer
]
# X-Internal-Secret is deliberately absent: browsers can never call internal routes.
CORS_ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "If-Match",
]
CORS_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "ETag",
    "Location",
]
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# A request of any other method may change state or carry a token back: its answer is no-store.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What the response's own headers may hold that a layer below replaces.
_REPLACED = frozenset({b"x-request-id", b"x-content-type-options", b"referrer-policy"})
_REPLACED_PRIVATE = _REPLACED | {b"cache-control"}
# How CORS marks an answer: not at all (internal routes, preflights, the split's 404), by
# Starlette's rules for a request with an `Origin`, or `Vary: Origin` for one without.
_CORS_NONE, _CORS_ORIGIN, _CORS_VARY = 0, 1, 2


class EnvelopeCORS(CORSMiddleware):
    """Starlette's CORS policy, its refused preflights answered in the error envelope. The
    edge asks it only about requests that carry an `Origin` (it never runs as a layer)."""

    def __init__(self, origins: Sequence[str]) -> None:
        super().__init__(
            _no_app,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_ALLOWED_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return error_response(400, bytes(response.body).decode(), "cors_refused", headers=headers)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotImplementedError  # EnvelopeCORS is a policy here, never a layer


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        cors_origins: Sequence[str],
        internal_port: int | None,
        health_paths: Collection[str],
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(service)
        self.cors = EnvelopeCORS(cors_origins)
        self.internal_port = internal_port
        self.health_paths = frozenset(health_paths)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _RequestHeaders(scope)
        if scope["path"] in self.health_paths and _is_plain_probe(scope, request):
            await _answer_probe(send, request)
            return
        exchange = _Exchange(self, scope, request, send)
        token = bind_request_id(request.request_id)
        in_progress = self.metrics.in_progress
        in_progress.inc()
        try:
            await exchange.serve(receive)
        finally:
            in_progress.dec()
            exchange.record(time.perf_counter() - exchange.started)
            reset_request_id(token)


class _RequestHeaders:
    """What the edge reads from the request's headers, in one pass over the raw list."""

    __slots__ = ("content_length", "origin", "private", "request_id")

    def __init__(self, scope: Scope) -> None:
        incoming = origin = length = None
        private = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value if incoming is None else incoming
            elif name == b"origin":
                origin = value if origin is None else origin
            elif name == b"authorization":
                private = True
            elif name == b"content-length":
                length = value if length is None else length
        if incoming is None or not VALID_ID.match(incoming):
            incoming = os.urandom(16).hex().encode()
        self.request_id: bytes = incoming
        self.origin: bytes | None = origin
        self.content_length: bytes | None = length
        self.private = (
            private
            or scope["method"] not in _SAFE_METHODS
            or scope["path"].startswith(INTERNAL_PREFIX)
        )

    def finish(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The request id and the security headers, replacing any the app set."""
        replaced = _REPLACED_PRIVATE if self.private else _REPLACED
        kept = [item for item in headers if item[0] not in replaced]
        kept.append((b"x-request-id", self.request_id))
        kept += SECURITY_HEADERS
        if self.private:
            kept.append(NO_STORE)
        return kept


def _is_plain_probe(scope: Scope, request: _RequestHeaders) -> bool:
    """A liveness probe the edge answers itself: a browser's goes the whole way, for CORS."""
    return scope["method"] == "GET" and request.origin is None


async def _answer_probe(send: Send, request: _RequestHeaders) -> None:
    headers = request.finish(list(HEALTH_HEADERS))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HEALTH_BODY})


class _Exchange:
    """One request's pass through the edge: its send wrapper and what the log line needs."""

    __slots__ = ("cors", "edge", "request", "scope", "send", "started", "status")

    def __init__(self, edge: EdgeMiddleware, scope: Scope, request: _RequestHeaders, send: Send):
        self.edge, self.scope, self.request, self.send = edge, scope, request, send
        self.started = time.perf_counter()
        self.status: int | None = None
        self.cors = _CORS_NONE
        if not scope["path"].startswith(INTERNAL_PREFIX):
            self.cors = _CORS_VARY if request.origin is None else _CORS_ORIGIN

    async def serve(self, receive: Receive) -> None:
        scope = self.scope
        try:
            await self._pass(receive)
        except Exception as exc:
            if self.status is not None:
                log_error_after_start(scope)
                raise
            forget_rate_limit_headers(scope)  # a crash's 500 carries no RateLimit-* headers
            await unhandled_error_response(scope, exc)(scope, receive, self.respond)

    async def _pass(self, receive: Receive) -> None:
        edge, scope = self.edge, self.scope
        if edge.internal_port is not None and not self._on_right_port(edge.internal_port):
            self.cors = _CORS_NONE  # the split sits outside CORS
            await not_found(scope, receive, self.respond)
            return
        if self.cors == _CORS_ORIGIN and _is_preflight(scope):
            self.cors = _CORS_NONE  # the preflight headers are the whole CORS answer
            response = edge.cors.preflight_response(Headers(scope=scope))
            await response(scope, receive, self.respond)
            return
        await self._call_app(receive)

    def _on_right_port(self, internal_port: int) -> bool:
        wanted = surface_of(self.scope["path"])
        return wanted is Surface.BOTH or wanted is arrived_on(self.scope, internal_port)

    async def _call_app(self, receive: Receive) -> None:
        declared = self.request.content_length
        limit = self.edge.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error_response(413, TOO_LARGE, "payload_too_large")(
                self.scope, receive, self.respond
            )
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # FastAPI renders this through the app's handlers
                raise StarletteHTTPException(413, TOO_LARGE)
            return message

        await self.edge.app(self.scope, limited_receive, self.respond)

    async def respond(self, message: Message) -> None:
        if message["type"] != "http.response.start":
            await self.send(message)
            return
        self.status = int(message["status"])
        headers = list(message.get("headers", ()))
        pending = pending_rate_limit_headers(self.scope, headers)
        if pending:
            headers += pending
        if self.cors == _CORS_VARY:
            headers = _vary_origin(headers)
        message["headers"] = headers
        if self.cors == _CORS_ORIGIN:
            request_headers = Headers(scope=self.scope)
            await self.edge.cors.send(message, self._finish, request_headers)
            return
        await self._finish(message)

    async def _finish(self, message: Message) -> None:
        message["headers"] = self.request.finish(message["headers"])
        await self.send(message)

    def record(self, elapsed: float) -> None:
        scope = self.scope
        status = 500 if self.status is None else self.status
        method, path = scope["method"], scope["path"]
        self.edge.metrics.observe(method, path, route_label(scope), status, elapsed)


def _is_preflight(scope: Scope) -> bool:
    if scope["method"] != "OPTIONS":
        return False
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`Vary` with `Origin` added, as Starlette's CORS marks an answer to a request without
    an `Origin`: the values of every `Vary` line joined into one, then `Origin`."""
    if not any(name == b"vary" for name, _ in headers):
        headers.append((b"vary", b"Origin"))
        return headers
    values = [value for name, value in headers if name == b"vary"]
    kept = [item for item in headers if item[0] != b"vary"]
    kept.append((b"vary", b", ".join([*values, b"Origin"])))
    return kept
