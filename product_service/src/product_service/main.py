"""Entry point: `uvicorn product_service.main:create_app --factory`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from product_service.api import internal_router, public_router
from product_service.cache import ProductCache
from product_service.config import Settings
from product_service.metrics import SERIES
from product_service.stock.api import stock_router
from shop_common.app import create_service_app
from shop_contracts.authentication import user_client_hook

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, *, user_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app; `user_transport` replaces the network under the user-service client (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def product_cache(app: FastAPI) -> AsyncIterator[None]:
        app.state.product_cache = ProductCache(
            app.state.redis,
            prefix=settings.redis_prefix,
            service=settings.service_name,
            ttl_seconds=settings.product_cache_ttl_seconds,
        )
        yield

    return create_service_app(
        settings,
        title="Product service",
        description="The product catalogue, its cache, and stock reservations for orders.",
        routers=[public_router, internal_router, stock_router],
        startup_hooks=[user_client_hook(settings, user_transport), product_cache],
        domain_series=SERIES,
    )
