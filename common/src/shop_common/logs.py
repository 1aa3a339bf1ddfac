"""Request ids and JSON logging.

`RequestIdMiddleware` accepts a sane incoming `X-Request-ID` or makes one, echoes it on the
response and keeps it in a context variable that every log line and internal call reads.
It also answers liveness probes itself (`health_paths`): a plain `GET /health-check/` is
the most frequent request and touches nothing, so it skips the metrics, CORS, rate-limit
and routing layers; it keeps its request id and, from the layer outside, the security
headers. A probe with an `Origin` header goes the whole way, for CORS to answer it.
"""

import json
import logging
import re
import sys
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop_common.errors import database_unavailable_response, error_response, is_database_failure

__all__ = [
    "REQUEST_ID_HEADER",
    "RequestIdMiddleware",
    "UnhandledErrorMiddleware",
    "configure_logging",
    "current_request_id",
    "mask_url_passwords",
    "use_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
logger = logging.getLogger(__name__)
_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# The body FastAPI renders for the liveness route, byte for byte.
HEALTH_BODY = b'{"status":"ok"}'


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def use_request_id(request_id: str | None = None) -> Iterator[str]:
    """Give work outside a request (background tasks) its own id for logs and calls."""
    value = request_id or uuid.uuid4().hex
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, health_paths: Collection[str] = ()) -> None:
        self.app = app
        self.health_paths = frozenset(health_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        if self._is_plain_probe(scope):
            await _answer_probe(send, request_id)
            return
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await _answering_errors(self.app, scope, receive, send_with_id)
        finally:
            _request_id.reset(token)

    def _is_plain_probe(self, scope: Scope) -> bool:
        return (
            scope["path"] in self.health_paths
            and scope["method"] == "GET"
            and _header(scope, b"origin") is None
        )


async def _answer_probe(send: Send, request_id: str) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(HEALTH_BODY)).encode()),
        (b"vary", b"Origin"),  # as CORS marks the full answer
        (b"x-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HEALTH_BODY})


class UnhandledErrorMiddleware:
    """Answer an exception no handler took: 503 for a database failure that escaped the
    handlers (raised outside a route, or in an exception group), else a 500 in the envelope,
    logged once with its traceback and the request id. It sits inside the CORS middleware,
    so a browser can read the error too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _answering_errors(self.app, scope, receive, send)


async def _answering_errors(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    started = False

    async def tracked(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, tracked)
    except Exception as exc:
        if started:
            logger.exception("error after the response started on %s", scope.get("path"))
            raise
        method, path = str(scope.get("method")), str(scope.get("path"))
        failure = _database_failure_in(exc)
        if failure is not None:
            response = database_unavailable_response(method, path, failure)
        else:
            logger.exception("unhandled error on %s %s", method, path)
            response = error_response(500, "Internal server error", "internal_error")
        await response(scope, receive, send)


def _database_failure_in(exc: BaseException) -> BaseException | None:
    """`exc` itself, or the one exception of a group, when it is a database failure."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if is_database_failure(exc) else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


# `scheme://user:password@`: the password is everything from the colon after the user name
# to the last `@` before the host (a password may itself hold `@` or `:`).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)[^\s/]*@")


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`: database and Redis
    URLs carry theirs, and a library may put the URL in an error message."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "request_id": current_request_id(),
            "message": mask_url_passwords(record.getMessage()),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(
                {k: mask_url_passwords(v) if isinstance(v, str) else v for k, v in extra.items()}
            )
        if record.exc_info:
            entry["exc_info"] = mask_url_passwords(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


_STDOUT_HANDLER = "shop-stdout"


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log line, uvicorn's included, to stdout as one JSON object."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.set_name(_STDOUT_HANDLER)
    root = logging.getLogger()
    # Replace our own earlier handler (an app made again, as in tests), keep anybody else's
    # (pytest's capture, and the test run's log file that its secret scan reads).
    kept = [h for h in root.handlers if h.get_name() != _STDOUT_HANDLER]
    root.handlers = [*kept, handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # Our middleware writes one line per request; uvicorn's own access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
