"""Two OpenAPI documents per service: the public one and the internal one.

`/openapi.json` (and `/docs`) describe what clients may call and leave every route under
`/internal/` out. `/internal/openapi.json` describes only those internal routes (their
models come from shop_contracts), for the services that call them and for fuzzing. It is
itself an internal route: on the internal port when the service has one
(`shop_common.listeners`), else on the single port behind the same `X-Internal-Secret` as
the routes it describes (403 without it). Neither document lists it.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.requests import Request

from shop_common.security import INTERNAL_PREFIX, INTERNAL_SECRET_HEADER, check_internal_secret

__all__ = ["INTERNAL_OPENAPI_PATH", "ServiceApp", "serve_internal_schema"]

INTERNAL_OPENAPI_PATH = "/internal/openapi.json"


def _routes(app: FastAPI, *, internal: bool) -> list[RouteContext]:
    """The app's routes (those of included routers too) that are, or are not, internal."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if (route.path or "").startswith(INTERNAL_PREFIX) == internal
    ]


class ServiceApp(FastAPI):
    """A FastAPI app whose schema is split in two: `openapi()` without the internal
    routes, `internal_openapi()` with only them. Each is built once, on first use (every
    route is added when the app is made, before it serves)."""

    _internal_schema: dict[str, Any] | None = None

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            routes = _routes(self, internal=False)
            self.openapi_schema = self._schema(routes, self.title, self.description)
        return self.openapi_schema

    def internal_openapi(self) -> dict[str, Any]:
        if self._internal_schema is None:
            routes = _routes(self, internal=True)
            description = (
                f"Internal routes of the {self.title.lower()}, called by the other services "
                f"with `{INTERNAL_SECRET_HEADER}`; not part of the public API."
            )
            self._internal_schema = self._schema(routes, f"{self.title} (internal)", description)
        return self._internal_schema

    def _schema(self, routes: list[RouteContext], title: str, description: str) -> dict[str, Any]:
        return get_openapi(
            title=title,
            version=self.version,
            openapi_version=self.openapi_version,
            description=description,
            routes=routes,
            separate_input_output_schemas=self.separate_input_output_schemas,
        )


def serve_internal_schema(app: ServiceApp) -> None:
    """`/internal/openapi.json`, with and without the trailing slash like every path."""

    async def internal_openapi(request: Request) -> JSONResponse:
        # With an internal port the listener split already kept the public port out.
        if request.app.state.settings.internal_port is None:
            check_internal_secret(request, request.headers.get(INTERNAL_SECRET_HEADER))
        return JSONResponse(app.internal_openapi())

    for path in (INTERNAL_OPENAPI_PATH, INTERNAL_OPENAPI_PATH + "/"):
        app.add_route(path, internal_openapi, include_in_schema=False)
