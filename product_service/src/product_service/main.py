"""Entry point: `python -m shop_common.serve product_service.main:create_app --port ...`."""

import httpx
from fastapi import FastAPI

from product_service.api import routers
from product_service.config import Settings
from product_service.deps import product_cache_hook
from product_service.metrics import SERIES
from product_service.models import SCHEMA_REVISIONS
from shop_common.app import create_service_app
from shop_contracts.authentication import user_client_hook

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, *, user_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app; `user_transport` replaces the network under the user-service client (tests)."""
    settings = settings or Settings()
    return create_service_app(
        settings,
        schema_revisions=SCHEMA_REVISIONS,
        routers=routers,
        startup_hooks=[user_client_hook(settings, user_transport), product_cache_hook(settings)],
        domain_series=SERIES,
    )
