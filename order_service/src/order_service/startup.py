"""Start-up hooks of the order service: its service clients and the reconciler task.

Everything here is made once per app in `lifespan` and closed at shutdown.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from order_service.config import Settings
from order_service.context import OrderContext
from order_service.reconciler import run_reconciler
from order_service.transport import build_transport
from shop_common.app import StartupHook
from shop_contracts.authentication import user_client_hook
from shop_contracts.product import ProductServiceClient

__all__ = ["orders_hook", "reconciler_hook", "user_hook"]


def user_hook(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> StartupHook:
    """`app.state.user_client`, over `transport` or the configured one."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        chosen = transport or build_transport(settings.http_transport)
        async with user_client_hook(settings, chosen)(app):
            yield

    return hook


def orders_hook(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> StartupHook:
    """`app.state.orders`, the context of saga and reconciler, with its product client."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        products = ProductServiceClient(
            settings.product_service_url,
            settings.product_service_secret.get_secret_value(),
            service=settings.service_name,
            timeout=settings.internal_timeout_seconds,
            retries=settings.internal_retries,
            transport=transport or build_transport(settings.http_transport),
        )
        app.state.orders = OrderContext(app.state.db.sessionmaker, products, settings)
        try:
            yield
        finally:
            await products.aclose()

    return hook


@asynccontextmanager
async def reconciler_hook(app: FastAPI) -> AsyncIterator[None]:
    """The reconciler loop, as a background task of this process."""
    async with run_reconciler(app.state.orders):
        yield
