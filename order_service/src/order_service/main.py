"""Entry point: `python -m shop_common.serve order_service.main:create_app --port ...`."""

import httpx
from fastapi import FastAPI

from order_service.api import router
from order_service.config import Settings
from order_service.deps import orders_hook, reconciler_hook
from order_service.metrics import SERIES
from order_service.models import SCHEMA_REVISIONS
from shop_common.app import StartupHook, create_service_app
from shop_contracts.authentication import user_client_hook

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    user_transport: httpx.AsyncBaseTransport | None = None,
    product_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app; the transports replace the network under the clients (tests, in-process)."""
    settings = settings or Settings()
    hooks: list[StartupHook] = [
        user_client_hook(settings, user_transport),
        orders_hook(settings, product_transport),
    ]
    if settings.reconciler_enabled:
        hooks.append(reconciler_hook)
    return create_service_app(
        settings,
        schema_revisions=SCHEMA_REVISIONS,
        routers=[router],
        startup_hooks=hooks,
        domain_series=SERIES,
    )
