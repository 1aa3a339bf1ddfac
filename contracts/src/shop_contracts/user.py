"""The user service's internal contract: resolving a bearer token to a user, and the feed of
account events that ends tokens early.

`POST /internal/v1/token/` with `TokenResolveRequest` answers `{"data": TokenUser}`, 401 for a
bad token or a deleted user, 403 for a bad secret; `GET /internal/v1/account-events/` answers
`{"data": [AccountEvent]}` after a given `seq` (docs/api.md). `UserServiceClient` is how the
product and order services call them.

The client keeps each resolution in the worker's memory under a hash of the token (never
the token itself) for at most 30 s and never past the token's expiry, and follows the feed
about twice a second to drop what a logout, a password change or a deletion ended. Nothing
is kept in Redis: an entry there would outlive the events this process has seen.
"""

import asyncio
import base64
import hashlib
import json
import time
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, Field, RootModel

from shop_common.clients import ServiceClient
from shop_common.errors import InvalidToken, ServiceUnavailable, Unauthorized
from shop_common.feed import FeedPoller
from shop_common.local_cache import LocalCache
from shop_common.schemas import InputModel
from shop_common.security import MAX_BEARER_TOKEN_LENGTH

__all__ = [
    "ACCOUNT_EVENTS_PATH",
    "FEED_POLL_SECONDS",
    "TOKEN_CACHE_MAX_ENTRIES",
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
TOKEN_CACHE_MAX_ENTRIES = 10_000  # per worker: a few MB at most
FEED_POLL_SECONDS = 0.5
AccountEventType = Literal["logout", "password_changed", "deleted"]


class TokenResolveRequest(InputModel):
    token: Annotated[str, Field(min_length=1, max_length=MAX_BEARER_TOKEN_LENGTH)]


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


class _AccountEvents(RootModel[list[AccountEvent]]):
    pass


class _Claims(NamedTuple):
    """What a cached resolution needs of its token: when it expires, which token it is and
    which session generation (`gen`, bumped by a password change) issued it."""

    exp: int
    token_id: uuid.UUID
    generation: int


class _Resolution(NamedTuple):
    user: TokenUser
    token_id: uuid.UUID
    generation: int


class UserServiceClient(ServiceClient):
    target = "user"

    def __init__(self, base_url: str, secret: str, *, service: str, **kwargs: Any) -> None:
        super().__init__(base_url, secret, service=service, **kwargs)
        self.tokens: LocalCache[_Resolution] = LocalCache(
            max_entries=TOKEN_CACHE_MAX_ENTRIES, name="token", service=service
        )
        self.feed = FeedPoller(
            self.account_events, self.forget, name="account-event", interval=FEED_POLL_SECONDS
        )
        self._calls: dict[str, asyncio.Future[TokenUser]] = {}

    def following(self) -> AbstractAsyncContextManager[object]:
        """Follow the account-event feed while the block runs: resolutions are cached only
        meanwhile, once the feed's tail is known."""
        return self.feed.running()

    async def resolve_token(self, token: str) -> TokenUser:
        """The token's user; 401 when the user service refuses the token, 503 when it fails.

        Concurrent misses of one token share one call to the user service, so an entry's
        expiry under load costs one call, not one per request in flight.
        """
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self.tokens.get(key)
        if cached is not None:
            return cached.user
        call = self._calls.get(key)
        if call is None:
            call = asyncio.ensure_future(self._resolve(key, token))
            self._calls[key] = call
            call.add_done_callback(lambda _: self._calls.pop(key, None))
        return await asyncio.shield(call)

    async def _resolve(self, key: str, token: str) -> TokenUser:
        """Ask the user service; cache the answer unless the feed's tail is unknown yet or
        something was dropped while the call was out."""
        version = self.tokens.version if self.feed.cursor is not None else None
        body = self.outgoing(TokenResolveRequest, {"token": token}, InvalidToken())
        response = await self.post("resolve_token", TOKEN_PATH, body, idempotent=True)
        if response.status_code in (401, 422):
            raise Unauthorized("Invalid or expired token", code="invalid_token")
        if response.status_code != 200:
            raise self.misconfigured(response)
        user = self.parse(response, TokenUser)
        claims = _unverified_claims(token)
        if version is not None and claims is not None:
            ttl = min(TOKEN_CACHE_MAX_SECONDS, claims.exp - time.time())
            entry = _Resolution(user, claims.token_id, claims.generation)
            self.tokens.set(key, entry, ttl=ttl, group=str(user.id), version=version)
        return user

    async def account_events(self, after: int, limit: int) -> list[AccountEvent]:
        """The feed's events after `after`; 503 when it cannot be read (not logged here:
        the feed's poller reports a failing feed once)."""
        params = {"after": after, "limit": limit}
        response = await self.get("account_events", ACCOUNT_EVENTS_PATH, params)
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"The user service answered the account-event feed with {response.status_code}",
                code="user_service_unavailable",
            )
        return self.parse(response, _AccountEvents).root

    def forget(self, event: AccountEvent) -> None:
        """Drop the cached resolutions `event` ended. A password change ends the tokens of
        earlier generations only: the one issued with the new password stays."""
        user = str(event.user_id)
        if event.type == "logout":
            self.tokens.drop_group(user, lambda entry: entry.token_id == event.token_id)
        elif event.type == "password_changed" and event.generation is not None:
            generation = event.generation
            self.tokens.drop_group(user, lambda entry: entry.generation < generation)
        else:
            self.tokens.drop_group(user)


def _unverified_claims(token: str) -> _Claims | None:
    """The claims a cache entry needs, read without checking the signature: the user service
    has just accepted the token. None when unreadable (then nothing is cached)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return _Claims(int(claims["exp"]), uuid.UUID(str(claims["jti"])), int(claims.get("gen", 0)))
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        return None
