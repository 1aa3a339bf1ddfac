"""The app factory every service is built with.

It wires the edge (`shop_common.edge`: request id, metrics and the access line, the
listener split, CORS, unhandled errors, rate-limit headers, the body limit, the security
headers, in one pass) in front of the routes; the error handlers; the ops routes; the
public and internal OpenAPI documents; and a lifespan that creates the database engine,
the Redis client, the rate limiter and the readiness checks once, runs the service's own
start-up hooks, and closes everything at shutdown.
"""

import gc
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from shop_common.db import Database
from shop_common.edge import MAX_BODY_BYTES, EdgeMiddleware
from shop_common.errors import install_error_handlers
from shop_common.health import Readiness, ops_router
from shop_common.logs import configure_logging
from shop_common.metrics import DomainSeries, initialise_series
from shop_common.openapi import ServiceApp, serve_internal_schema
from shop_common.rate_limit import RateLimiter
from shop_common.redis import create_redis
from shop_common.settings import ServiceSettings

__all__ = ["MAX_BODY_BYTES", "StartupHook", "create_service_app"]

DOCS_ASSETS = "/docs-assets"
StartupHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Answered by the edge itself (see shop_common.edge), like the ops route would.
HEALTH_PATHS = ("/health-check/", "/health-check")


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
    """Everything between the server and the routes is one pass (`shop_common.edge`):
    request id, the liveness fast path, metrics and the access line, the listener split,
    CORS, unhandled errors, rate-limit headers, the body limit and the security headers."""
    app.add_middleware(
        EdgeMiddleware,
        service=settings.service_name,
        cors_origins=settings.cors_origins,
        internal_port=settings.internal_port,
        health_paths=HEALTH_PATHS,
        max_body_bytes=MAX_BODY_BYTES,
    )


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
