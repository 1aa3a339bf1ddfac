"""The `AppError` hierarchy and the handlers that render every error in one envelope.

Envelope: `{"message": str, "code": str, "details": [...]}`; `details` only when non-empty.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "AppError",
    "BadRequest",
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "InvalidInternalSecret",
    "InvalidToken",
    "MethodNotAllowed",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnreadableBody",
    "ValidationFailed",
    "database_unavailable_response",
    "error_body",
    "error_response",
    "install_error_handlers",
    "is_database_failure",
    "sqlstate",
]

logger = logging.getLogger(__name__)


class AppError(Exception):
    """The base of every error a service answers on purpose.

    A subclass says what it is once: `status_code`, `code`, the default `message`, and for
    the OpenAPI schema a `description` and the `response_headers` it always or may carry.
    Routes document their errors from these classes (`shop_common.routing.error_responses`),
    so the schema and the answers come from the same place.
    """

    status_code = 500
    code = "internal_error"
    message = "Internal server error"
    description: ClassVar[str] = "An unexpected error"
    # name -> (description, always present); documented on the response in the schema.
    response_headers: ClassVar[Mapping[str, tuple[str, bool]]] = {}

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = list(details or [])
        self.headers = dict(headers or {})
        # Set by a client when an earlier attempt of the call that gave this refusal failed
        # in a way that may have taken effect: the refusal then proves nothing about it.
        self.earlier_attempt_unknown = False
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The error envelope of this error."""
        return error_body(self.message, self.code, self.details)


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "Bad request"
    description = "The request cannot be processed as sent"


class UnreadableBody(BadRequest):
    """FastAPI's 400 for a body it cannot even decode (bytes that are not UTF-8 text);
    a body that is text but not valid JSON is a 422 like any other broken rule."""

    message = "There was an error parsing the body"
    description = "The body could not be read (not UTF-8 text)"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Invalid or missing credentials"
    description = "Missing, malformed, expired or revoked bearer token"
    response_headers = {"WWW-Authenticate": ("The scheme to authenticate with: Bearer", True)}

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class NotAuthenticated(Unauthorized):
    code = "not_authenticated"
    message = "Missing bearer token"
    description = "No bearer token in `Authorization`"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "Invalid or expired token"
    description = "The token is malformed, expired, revoked, spent or of the wrong type"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this"
    description = "The caller may not do this"


class InvalidInternalSecret(Forbidden):
    code = "invalid_internal_secret"
    message = "Missing or invalid internal secret"
    description = "`X-Internal-Secret` is missing or wrong"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"
    description = "No such resource"


class MethodNotAllowed(AppError):
    status_code = 405
    code = "method_not_allowed"
    message = "Method Not Allowed"
    description = "The path does not serve this method"
    response_headers = {"Allow": ("The methods the path serves", True)}


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"
    description = "The request conflicts with the current state (or a concurrent change)"


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    message = "The resource changed since you read it"
    description = "If-Match does not match the resource's current ETag"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Request body too large"
    description = "The request body is over the size limit (256 KiB)"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "Request validation failed"
    description = (
        "The body is not valid JSON or the request breaks a rule; `details` names each one"
        " (`loc`, `msg`)"
    )


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests, slow down"
    description = "The rate limit of this route is spent"
    response_headers = {
        "Retry-After": ("Seconds until the limit resets", True),
        "RateLimit-Limit": ("Requests allowed per window", True),
        "RateLimit-Remaining": ("Requests left in this window (0)", True),
        "RateLimit-Reset": ("Seconds until the window resets", True),
    }


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "A service this request depends on is unavailable, try again shortly"
    description = "A dependency (database, another service) is unavailable; try again"
    response_headers = {"Retry-After": ("Seconds to wait before retrying", False)}


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    message = "The database is unavailable, try again shortly"
    description = "The database is unavailable or too slow; try again"
    response_headers = {"Retry-After": ("Seconds to wait before retrying", True)}


def error_body(
    message: str, code: str, details: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The error envelope: `details` only when there is something to list."""
    body: dict[str, Any] = {"message": message, "code": code}
    if details:
        body["details"] = [dict(entry) for entry in details]
    return body


def error_response(
    status_code: int,
    message: str,
    code: str,
    details: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, code, details), status_code=status_code, headers=dict(headers or {})
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        msg = str(err.get("msg", "Invalid value")).removeprefix("Value error, ")
        details.append({"loc": list(err.get("loc", [])), "msg": msg})
    return details


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):
        raise exc
    return _render(exc)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    return _render(ValidationFailed(details=_validation_details(exc)))


def _render(error: AppError) -> JSONResponse:
    return error_response(
        error.status_code, error.message, error.code, error.details, error.headers
    )


# What Starlette's own HTTP errors are, as AppError classes (their status and code).
_HTTP_ERRORS: dict[int, type[AppError]] = {
    cls.status_code: cls
    for cls in (UnreadableBody, Unauthorized, NotFound, MethodNotAllowed, PayloadTooLarge)
}


def _allowed_methods(request: Request) -> str:
    """Every method the request's path serves. Starlette's 405 names only the methods of
    the first route that matched the path, but FastAPI makes one route per method."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    kind = _HTTP_ERRORS.get(exc.status_code)
    code = kind.code if kind else "http_error"
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "No route matches this path"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return error_response(exc.status_code, message, code, headers=headers)


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "database refused a value on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
    )
    return error_response(422, "A value is out of the accepted range", "invalid_value")


# What a database that is down, restarting, overloaded or too slow raises: SQLAlchemy's
# wrappers of driver errors, a pool timeout, and what asyncpg raises unwrapped while it
# connects (a missing unix socket is a FileNotFoundError, a refused port a
# ConnectionRefusedError, a server still starting up a CannotConnectNowError).
_FAILURE_TYPES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.PendingRollbackError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
# Driver errors that are about the request or the code, not the database's health.
_NOT_FAILURES: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.IntegrityError,
    sqlalchemy.exc.DataError,
    sqlalchemy.exc.ProgrammingError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    asyncpg.SyntaxOrAccessError,
)
# SQLSTATE classes of the same (asyncpg's dialect hands most PostgreSQL errors to SQLAlchemy
# as a plain DBAPIError, so the class is read from the driver's exception underneath).
_DATA_ERROR, _INTEGRITY_ERROR, _SYNTAX_OR_ACCESS = "22", "23", "42"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver error behind `exc`, when there is one."""
    seen: BaseException | None = exc
    for _ in range(4):  # the wrapper, the DBAPI adapter's error, asyncpg's own
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _sqlstate_class(exc: BaseException) -> str:
    return (sqlstate(exc) or "")[:2]


def is_database_failure(exc: BaseException) -> bool:
    """True when `exc` means the database could not be reached or did not answer in time
    (statement_timeout included), so the right answer is 503 and a retry later; False for
    what the request or the code did wrong (a bad value, a constraint, a SQL error)."""
    if isinstance(exc, _NOT_FAILURES):
        return False
    if _sqlstate_class(exc) in (_DATA_ERROR, _INTEGRITY_ERROR, _SYNTAX_OR_ACCESS):
        return False
    return isinstance(exc, _FAILURE_TYPES)


def database_unavailable_response(method: str, path: str, exc: BaseException) -> JSONResponse:
    """The one log line and the 503 of a request the database failed."""
    cause = exc.__cause__ or getattr(exc, "orig", None)
    logger.error(
        "database unavailable on %s %s: %s%s",
        method,
        path,
        type(exc).__name__,
        f" ({type(cause).__name__})" if cause is not None else "",
    )
    return _render(DatabaseUnavailable(headers={"Retry-After": "5"}))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    state_class = _sqlstate_class(exc)
    if isinstance(exc, sqlalchemy.exc.DataError) or state_class == _DATA_ERROR:
        return await _data_error(request, exc)
    if isinstance(exc, sqlalchemy.exc.IntegrityError) or state_class == _INTEGRITY_ERROR:
        # A race another request won (a unique key taken meanwhile): nothing was written.
        logger.warning("integrity conflict on %s %s", request.method, request.url.path)
        return error_response(
            409, "The request conflicts with a concurrent change, try again", "conflict"
        )
    if not is_database_failure(exc):
        raise exc  # a bug: answered 500 by the edge, with its traceback
    return database_unavailable_response(request.method, request.url.path, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    for failure in _FAILURE_TYPES:
        app.add_exception_handler(failure, _database_error)
    # Any other exception is logged and answered 500 by the edge (`shop_common.edge`),
    # which runs inside Starlette's outermost handler and so keeps the request id on it.
