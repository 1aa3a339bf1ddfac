"""Which port answers which route, when a service listens on a second, internal port.

With `INTERNAL_PORT` set (compose always sets it; `shop_common.serve` then listens on both
ports) the internal routes (`/internal/...`, their schema included) and `/metrics` answer
only on the internal port, the public routes only on the public one, and the probes
(`/health-check/`, `/ready`) on both. A route asked for on the wrong port is a 404 in the
error envelope, the very answer of an unknown route, so the public port does not even
reveal that internal routes exist. A NetworkPolicy or a compose network can then keep the
internal port away from the outside. Without `INTERNAL_PORT` everything shares one port
(the native default) and internal routes rely on their secret alone.

The port a request came in on is the local address of its connection (`scope["server"]`);
the edge (`shop_common.edge`) applies the split.
"""

from enum import Enum

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shop_common.security import INTERNAL_PREFIX

__all__ = ["Surface", "arrived_on", "not_found", "surface_of"]

INTERNAL_ONLY = ("/metrics",)
ON_BOTH = ("/health-check", "/ready")


class Surface(Enum):
    PUBLIC = "public"
    INTERNAL = "internal"
    BOTH = "both"


def surface_of(path: str) -> Surface:
    """Where a path is served when the service has an internal port."""
    if path.startswith(INTERNAL_PREFIX):
        return Surface.INTERNAL
    bare = path.rstrip("/")
    if bare in INTERNAL_ONLY:
        return Surface.INTERNAL
    if bare in ON_BOTH:
        return Surface.BOTH
    return Surface.PUBLIC


def arrived_on(scope: Scope, internal_port: int) -> Surface:
    """The surface of the port this request's connection was accepted on."""
    server = scope.get("server")
    on_internal = server is not None and server[1] == internal_port
    return Surface.INTERNAL if on_internal else Surface.PUBLIC


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request for a route of the other port as an unknown route: rendered by
    the app's own handler of an unmatched route, so both answers are the same byte for
    byte (the edge runs outside the app's exception layer)."""
    handler = scope["app"].exception_handlers[StarletteHTTPException]
    response = await handler(Request(scope, receive), StarletteHTTPException(404))
    await response(scope, receive, send)
