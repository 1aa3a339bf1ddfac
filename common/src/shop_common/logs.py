"""Request ids, JSON logging and the answer to an error no handler took.

The request id is read, made and echoed by the edge (`shop_common.edge`); it lives in a
context variable that every log line and internal call reads.
"""

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from shop_common.errors import database_unavailable_response, error_response, is_database_failure

__all__ = [
    "REQUEST_ID_HEADER",
    "VALID_ID",
    "bind_request_id",
    "configure_logging",
    "current_request_id",
    "log_error_after_start",
    "mask_url_passwords",
    "reset_request_id",
    "unhandled_error_response",
    "use_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
logger = logging.getLogger(__name__)
_request_id: ContextVar[str] = ContextVar("request_id", default="-")
# An incoming X-Request-ID kept as it is; any other is replaced by a new one.
VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str:
    return _request_id.get()


def bind_request_id(request_id: bytes) -> Token[str]:
    """Make `request_id` the current one, until `reset_request_id` with the token."""
    return _request_id.set(request_id.decode("latin-1"))


def reset_request_id(token: Token[str]) -> None:
    _request_id.reset(token)


@contextmanager
def use_request_id(request_id: str | None = None) -> Iterator[str]:
    """Give work outside a request (background tasks) its own id for logs and calls."""
    value = request_id or uuid.uuid4().hex
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


def unhandled_error_response(scope: Scope, exc: Exception) -> Response:
    """The answer to an exception no handler took: 503 for a database failure that escaped
    the handlers (raised outside a route, or in an exception group), else a 500 in the
    envelope, logged once with its traceback and the request id."""
    method, path = str(scope.get("method")), str(scope.get("path"))
    failure = _database_failure_in(exc)
    if failure is not None:
        return database_unavailable_response(method, path, failure)
    logger.exception("unhandled error on %s %s", method, path)
    return error_response(500, "Internal server error", "internal_error")


def log_error_after_start(scope: Scope) -> None:
    """Log the exception being handled: it came too late to change the answer."""
    logger.exception("error after the response started on %s", scope.get("path"))


def _database_failure_in(exc: BaseException) -> BaseException | None:
    """`exc` itself, or the one exception of a group, when it is a database failure."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if is_database_failure(exc) else None


# `scheme://user:password@`: the password is everything from the colon after the user name
# to the last `@` before the host (a password may itself hold `@` or `:`).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)[^\s/]*@")


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`: database and Redis
    URLs carry theirs, and a library may put the URL in an error message."""
    if "@" not in text:  # no URL with a password: the usual log line, skipped cheaply
        return text
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
        return _ENCODER.encode(entry)


# Made once: `json.dumps(..., default=str)` builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=str)


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
    # The edge writes one line per request; uvicorn's own access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # Nothing prints the thread or process names a record collects on every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
