"""The user service's internal contract: resolving a bearer token to a user.

`POST /internal/v1/token/` with `TokenResolveRequest` answers `{"data": TokenUser}`, 401 for a
bad token or a deleted user, 403 for a bad secret (docs/api.md). `UserServiceClient` is how
the product and order services call it, caching each answer in their Redis under a hash of
the token (never the token itself) for at most 30 s and never past the token's expiry.

A cached answer authenticates a request, so Redis is not trusted with it: every entry is
signed with a key derived from the calling service's own secret (`JsonCache` with a
`signing_key`). An entry planted or altered by someone with Redis access but without that
secret is ignored (`cache_requests_total{result="invalid"}`) and the user service is asked.
"""

import base64
import hashlib
import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError
from redis.asyncio import Redis

from shop_common.clients import ServiceClient
from shop_common.errors import Unauthorized
from shop_common.redis import JsonCache, cache_signing_key
from shop_common.schemas import InputModel

__all__ = [
    "ACCOUNT_EVENTS_PATH",
    "TOKEN_CACHE_MAX_SECONDS",
    "TOKEN_PATH",
    "AccountEvent",
    "AccountEventType",
    "TokenResolveRequest",
    "TokenUser",
    "UserServiceClient",
]

TOKEN_PATH = "/internal/v1/token/"  # noqa: S105 - a route, not a secret
ACCOUNT_EVENTS_PATH = "/internal/v1/account-events/"
TOKEN_CACHE_MAX_SECONDS = 30
AccountEventType = Literal["logout", "password_changed", "deleted"]


class TokenResolveRequest(InputModel):
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class TokenUser(BaseModel):
    """The user a valid access token belongs to."""

    id: uuid.UUID
    email: str
    name: str = ""


class AccountEvent(BaseModel):
    """One entry of the account-event feed: what ended some of a user's access tokens.

    `logout` ends the one access token whose id (`jti`) is `token_id`; `password_changed`
    ends every token of the user issued before it, that is of a generation (claim `gen`)
    below `generation`; `deleted` ends every token of the user.
    """

    seq: int
    type: AccountEventType
    user_id: uuid.UUID
    at: datetime
    token_id: uuid.UUID | None = None
    generation: int | None = None


class UserServiceClient(ServiceClient):
    target = "user"

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        redis: Redis,
        prefix: str,
        service: str,
        cache_secret: str,
        **kwargs: Any,
    ) -> None:
        """`secret` is the user service's (sent on every call); `cache_secret` is the calling
        service's own, the key the cached resolutions are signed with."""
        super().__init__(base_url, secret, service=service, **kwargs)
        self.cache = JsonCache(
            redis,
            prefix=prefix,
            name="token",
            service=service,
            signing_key=cache_signing_key(cache_secret, "token"),
        )

    async def resolve_token(self, token: str) -> TokenUser:
        """The token's user; 401 when the user service refuses the token, 503 when it fails."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = await self.cache.get(key)
        if cached is not None:
            try:
                return TokenUser.model_validate(cached)
            except ValidationError:  # signed by us but of another shape: ask again
                pass
        body = TokenResolveRequest(token=token).model_dump()
        response = await self.post("resolve_token", TOKEN_PATH, body, idempotent=True)
        if response.status_code in (401, 422):
            raise Unauthorized("Invalid or expired token", code="invalid_token")
        if response.status_code != 200:
            raise self.misconfigured(response)
        user = self.parse(response, TokenUser)
        ttl = min(TOKEN_CACHE_MAX_SECONDS, _seconds_until_expiry(token))
        await self.cache.set(key, user.model_dump(mode="json"), ttl_seconds=ttl)
        return user


def _seconds_until_expiry(token: str) -> int:
    """The token's remaining life from its `exp` claim, read only to cap the cache TTL.

    The user service has verified the token already; an unreadable claim means no caching.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"] - time.time())
    except (IndexError, KeyError, TypeError, ValueError):
        return 0
