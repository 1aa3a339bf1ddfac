"""The app factory every service is built with.

It wires, in request order: security headers -> request id -> metrics -> listener split
(only with an internal port) -> CORS -> rate-limit headers -> routes;
the error handlers; the ops routes; the public and internal OpenAPI documents; and a
lifespan that creates the database engine, the Redis client, the rate limiter and the
readiness checks once, runs the service's own start-up hooks, and closes everything at
shutdown.
"""

import gc
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from shop_common.db import Database
from shop_common.errors import error_response, install_error_handlers
from shop_common.headers import SecurityHeadersMiddleware
from shop_common.health import Readiness, ops_router
from shop_common.listeners import ListenerSplitMiddleware
from shop_common.logs import RequestIdMiddleware, UnhandledErrorMiddleware, configure_logging
from shop_common.metrics import DomainSeries, MetricsMiddleware, initialise_series
from shop_common.openapi import ServiceApp, serve_internal_schema
from shop_common.rate_limit import RateLimiter, RateLimitHeadersMiddleware
from shop_common.redis import create_redis
from shop_common.security import INTERNAL_PREFIX
from shop_common.settings import ServiceSettings

__all__ = ["StartupHook", "create_service_app"]

# Bodies here are small JSON documents; a larger one is refused (413) before it is parsed.
MAX_BODY_BYTES = 256 * 1024
TOO_LARGE = f"Request body over {MAX_BODY_BYTES // 1024} KiB"
DOCS_ASSETS = "/docs-assets"
StartupHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Answered by RequestIdMiddleware itself (see shop_common.logs), like the ops route would.
HEALTH_PATHS = ("/health-check/", "/health-check")

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


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with refused preflights answered in the error envelope
    and internal routes left out entirely (browsers never call them)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(INTERNAL_PREFIX):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

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


class BodyLimitMiddleware:
    """Refuse a request body over `max_bytes` with a 413 in the error envelope, before it
    is read in full: at once from `Content-Length`, else as the chunks arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # FastAPI renders this through our handlers
                raise StarletteHTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> Response:
        return error_response(413, TOO_LARGE, "payload_too_large")


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at `/docs` from files shipped in the environment (`swagger-ui-bundle-v2`),
    not from a CDN, so the docs work offline and behind strict firewalls; like every path,
    `/docs` and `/openapi.json` answer with and without a trailing slash."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(app.openapi())

    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    for path in ("/docs", "/docs/"):
        app.add_route(path, docs, include_in_schema=False)
    app.add_route("/openapi.json/", openapi, include_in_schema=False)


def _lifespan(
    settings: ServiceSettings,
    startup_hooks: Sequence[StartupHook],
    domain_series: Sequence[DomainSeries],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Create the engine, Redis and the limiter once per process; run the service's hooks."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        initialise_series(settings.service_name, domain_series)
        app.state.db = Database(settings)
        app.state.redis = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
        app.state.limiter = RateLimiter(app.state.redis, settings)
        app.state.readiness = Readiness.of(app)
        try:
            async with AsyncExitStack() as stack:
                for hook in startup_hooks:
                    await stack.enter_async_context(hook(app))
                _freeze_startup_objects()
                yield
        finally:
            await app.state.redis.aclose()
            await app.state.db.dispose()

    return lifespan


def _freeze_startup_objects() -> None:
    """Leave what start-up built (modules, the app, its routes and models, the ORM's
    mappers) out of every later garbage collection: they live as long as the process, and
    the collector walked them all on every full pass. Profiled under the benchmark, the
    collector took about 8 % of an order worker's CPU (issue 12)."""
    gc.collect()
    gc.freeze()


def _add_middleware(app: FastAPI, settings: ServiceSettings) -> None:
    """Request order: security headers -> request id -> metrics -> listener split -> CORS
    -> unhandled errors -> rate-limit headers -> body limit. Starlette runs the last-added
    middleware first, hence the reverse order. A plain liveness probe stops at the request
    id layer, which answers it (no metrics, no access log line)."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(
        EnvelopeCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
    if settings.internal_port is not None:
        app.add_middleware(ListenerSplitMiddleware, internal_port=settings.internal_port)
    app.add_middleware(MetricsMiddleware, service=settings.service_name)
    app.add_middleware(RequestIdMiddleware, health_paths=HEALTH_PATHS)
    app.add_middleware(SecurityHeadersMiddleware)


def _package_doc(settings: ServiceSettings) -> str:
    package = sys.modules.get(type(settings).__module__.partition(".")[0])
    return inspect.cleandoc(package.__doc__ or "") if package else ""


def create_service_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter],
    startup_hooks: Sequence[StartupHook] = (),
    domain_series: Sequence[DomainSeries] = (),
    description: str | None = None,
    schema_revisions: Sequence[str] = (),
) -> ServiceApp:
    """The service's app. Its OpenAPI title comes from `settings.service_name` and its
    description, unless given, from the docstring of the service's package (the package of
    its settings class): the one place that says what the service is for.
    `schema_revisions` are the service's Alembic revisions, oldest first: `/ready` refuses a
    database behind the last (shop_common.health); empty, the revision is not checked."""
    configure_logging(settings.service_name, settings.log_level)
    app = ServiceApp(
        title=f"{settings.service_name.capitalize()} service",
        description=description if description is not None else _package_doc(settings),
        version="1.0.0",
        lifespan=_lifespan(settings, startup_hooks, domain_series),
        redirect_slashes=False,
        docs_url=None,  # served by _serve_docs from local files
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.schema_revisions = tuple(schema_revisions)
    install_error_handlers(app)
    app.include_router(ops_router)
    _serve_docs(app)
    serve_internal_schema(app)
    for router in routers:
        app.include_router(router)
    _add_middleware(app, settings)
    return app
