"""Entry point: `uvicorn user_service.main:create_app --factory`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shop_common.app import create_service_app
from user_service.api import internal_router, public_router
from user_service.config import Settings
from user_service.tokens import Denylist, TokenIssuer

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def auth_state(app: FastAPI) -> AsyncIterator[None]:
        app.state.tokens = TokenIssuer(settings)
        app.state.denylist = Denylist(app.state.redis, settings.redis_prefix)
        yield

    return create_service_app(
        settings,
        title="User service",
        description="Accounts, JWT sessions and token resolution for the shop.",
        routers=[public_router, internal_router],
        startup_hooks=[auth_state],
    )
