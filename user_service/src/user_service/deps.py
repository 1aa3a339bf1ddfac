"""What the user service keeps on its app state: the start-up hook that creates it and the
`Annotated` dependency aliases that read it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from shop_common.app import StartupHook
from shop_common.db import Database, SessionDep
from shop_common.rate_limit import RateLimiter
from shop_common.security import BearerTokenDep
from user_service import service
from user_service.config import Settings
from user_service.passwords import HashingSlots
from user_service.repository import ProfileRow
from user_service.tokens import Denylist, TokenIssuer

__all__ = [
    "CurrentAuthDep",
    "CurrentProfileDep",
    "DenylistDep",
    "HashingSlotsDep",
    "LimiterDep",
    "TokenIssuerDep",
    "auth_hook",
]


def auth_hook(settings: Settings) -> StartupHook:
    """`app.state.tokens` (signs and checks JWTs), `app.state.denylist` (logged-out tokens)
    and `app.state.hashing` (the process's argon2 slots and threads)."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        app.state.tokens = TokenIssuer(settings)
        app.state.denylist = Denylist(
            app.state.redis, settings.redis_prefix, service=settings.service_name
        )
        app.state.hashing = HashingSlots(
            settings.password_hash_slots,
            settings.password_hash_wait_seconds,
            max_waiting=settings.password_hash_max_waiting,
        )
        try:
            yield
        finally:
            app.state.hashing.close()

    return hook


async def _tokens(request: Request) -> TokenIssuer:
    tokens: TokenIssuer = request.app.state.tokens
    return tokens


async def _denylist(request: Request) -> Denylist:
    denylist: Denylist = request.app.state.denylist
    return denylist


async def _hashing(request: Request) -> HashingSlots:
    hashing: HashingSlots = request.app.state.hashing
    return hashing


async def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


TokenIssuerDep = Annotated[TokenIssuer, Depends(_tokens)]
DenylistDep = Annotated[Denylist, Depends(_denylist)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
HashingSlotsDep = Annotated[HashingSlots, Depends(_hashing)]


async def _current_auth(
    session: SessionDep, tokens: TokenIssuerDep, denylist: DenylistDep, token: BearerTokenDep
) -> service.Authenticated:
    return await service.authenticate(session, tokens, denylist, access_token=token)


CurrentAuthDep = Annotated[service.Authenticated, Depends(_current_auth)]


async def _current_profile(
    request: Request, tokens: TokenIssuerDep, denylist: DenylistDep, token: BearerTokenDep
) -> ProfileRow:
    database: Database = request.app.state.db
    return await service.read_profile(database, tokens, denylist, access_token=token)


# The caller's own profile, read without a session (service.read_profile).
CurrentProfileDep = Annotated[ProfileRow, Depends(_current_profile)]
