"""`Annotated` dependency aliases of the user service."""

from typing import Annotated

from fastapi import Depends, Request

from shop_common.db import SessionDep
from shop_common.rate_limit import RateLimiter
from shop_common.security import BearerTokenDep
from user_service import service
from user_service.tokens import Denylist, TokenIssuer

__all__ = ["CurrentAuthDep", "DenylistDep", "LimiterDep", "TokenIssuerDep"]


async def _tokens(request: Request) -> TokenIssuer:
    tokens: TokenIssuer = request.app.state.tokens
    return tokens


async def _denylist(request: Request) -> Denylist:
    denylist: Denylist = request.app.state.denylist
    return denylist


async def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


TokenIssuerDep = Annotated[TokenIssuer, Depends(_tokens)]
DenylistDep = Annotated[Denylist, Depends(_denylist)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]


async def _current_auth(
    session: SessionDep, tokens: TokenIssuerDep, denylist: DenylistDep, token: BearerTokenDep
) -> service.Authenticated:
    return await service.authenticate(session, tokens, denylist, access_token=token)


CurrentAuthDep = Annotated[service.Authenticated, Depends(_current_auth)]
