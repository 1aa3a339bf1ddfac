"""What the order service keeps on its app state: the start-up hooks that create it (its
product client and the saga's context, the reconciler task) and the `Annotated` dependency
aliases that read it. Everything is made once per app in `lifespan` and closed at shutdown."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Header, Request

from order_service.config import Settings
from order_service.context import OrderContext
from order_service.reconciler import run_reconciler
from shop_common.app import StartupHook
from shop_contracts.product import ProductServiceClient

__all__ = [
    "IdempotencyKeyDep",
    "OrderContextDep",
    "orders_hook",
    "reconciler_hook",
]


def orders_hook(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> StartupHook:
    """`app.state.orders`, the context of saga and reconciler, with its product client
    (over `transport` when one is given: tests, in-process apps)."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        products = ProductServiceClient(
            settings.product_service_url,
            settings.product_service_secret.get_secret_value(),
            service=settings.service_name,
            timeout=settings.internal_timeout_seconds,
            retries=settings.internal_retries,
            transport=transport,
        )
        app.state.orders = OrderContext(app.state.db, products, settings)
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


async def _order_context(request: Request) -> OrderContext:
    ctx: OrderContext = request.app.state.orders
    return ctx


OrderContextDep = Annotated[OrderContext, Depends(_order_context)]
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is a good choice); the same key and body "
        "within 24 h return the first answer instead of placing a second order",
    ),
]
