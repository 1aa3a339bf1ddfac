"""Entry point: `python -m shop_common.serve user_service.main:create_app --port ...`."""

from fastapi import FastAPI

from shop_common.app import create_service_app
from user_service.api import routers
from user_service.config import Settings
from user_service.deps import auth_hook
from user_service.models import SCHEMA_REVISIONS

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        schema_revisions=SCHEMA_REVISIONS,
        routers=routers,
        startup_hooks=[auth_hook(settings)],
    )
