"""How the product and order services authenticate their callers: through the user service.

`UserServiceSettings` is the settings of such a service, `user_client_hook` puts its
`UserServiceClient` on `app.state.user_client` at start-up (following the account-event feed
until shutdown), and the dependencies resolve the request's bearer token to its user
(`CurrentUserDep`), counting writes against the user's `write` rate-limit bucket
(`WriterDep`).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from pydantic import Field, SecretStr

from shop_common.app import StartupHook
from shop_common.security import BearerTokenDep
from shop_common.settings import ServiceSettings
from shop_contracts.user import TokenUser, UserServiceClient

__all__ = [
    "USER_CALL_ATTEMPTS",
    "CurrentUserDep",
    "UserServiceSettings",
    "WriterDep",
    "user_client_hook",
]

# A token check is idempotent: tried this often before the caller gets a 503.
USER_CALL_ATTEMPTS = 3


class UserServiceSettings(ServiceSettings):
    """Settings of a service that authenticates its callers through the user service."""

    user_service_url: str = Field("http://localhost:8001", validation_alias="USER_SERVICE_URL")
    user_service_secret: SecretStr = Field(SecretStr(""), validation_alias="USER_SERVICE_SECRET")
    internal_timeout_seconds: float = 2.0

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "user_service_secret"]


def user_client_hook(
    settings: UserServiceSettings, transport: httpx.AsyncBaseTransport | None = None
) -> StartupHook:
    """A start-up hook that puts a `UserServiceClient` on `app.state.user_client` and
    follows the account-event feed until shutdown."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        client = UserServiceClient(
            settings.user_service_url,
            settings.user_service_secret.get_secret_value(),
            service=settings.service_name,
            timeout=settings.internal_timeout_seconds,
            retries=USER_CALL_ATTEMPTS - 1,
            transport=transport,
        )
        app.state.user_client = client
        try:
            async with client.following():
                yield
        finally:
            await client.aclose()

    return hook


async def _current_user(request: Request, token: BearerTokenDep) -> TokenUser:
    client: UserServiceClient = request.app.state.user_client
    return await client.resolve_token(token)


CurrentUserDep = Annotated[TokenUser, Depends(_current_user)]


async def _current_writer(request: Request, user: CurrentUserDep) -> TokenUser:
    """The current user, after counting this write against their `write` rate-limit bucket."""
    await request.app.state.limiter.hit(request, "write", str(user.id))
    return user


WriterDep = Annotated[TokenUser, Depends(_current_writer)]
