"""UserServiceClient's token cache: resolutions kept in process for at most 30 s and never
past the token's expiry, and dropped by the account events the client follows."""

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from shop_common.local_cache import LocalCache
from shop_common.testing.secrets import strong_secret
from shop_contracts.testing import FakeUserService
from shop_contracts.user import TOKEN_CACHE_MAX_SECONDS, TOKEN_PATH, TokenUser, UserServiceClient

USER_SECRET = strong_secret("common-user-service")


def jwt_like(*, expires_in: float = 600, generation: int = 0) -> tuple[str, uuid.UUID]:
    """A token shaped like the user service's (the fake accepts it unverified), and its id."""
    jti = uuid.uuid4()
    claims = {"exp": int(time.time() + expires_in), "jti": str(jti), "gen": generation}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"h.{payload}.s", jti


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hits() -> float:
    labels = {"service": "common", "cache": "token", "result": "hit"}
    return REGISTRY.get_sample_value("cache_requests_total", labels) or 0.0


@pytest.fixture
def users() -> FakeUserService:
    return FakeUserService(USER_SECRET)


@pytest.fixture
async def client(users: FakeUserService) -> AsyncIterator[UserServiceClient]:
    """A client following the fake's feed, from its tail."""
    client = UserServiceClient(
        "http://user.test", USER_SECRET, service="common", transport=users.transport()
    )
    async with client.following():
        await until(lambda: client.feed.cursor is not None)
        yield client
    await client.aclose()


async def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110 - the state is plain attributes
            await asyncio.sleep(0.01)


async def resolved_twice(client: UserServiceClient, token: str, user: TokenUser) -> None:
    assert await client.resolve_token(token) == user
    assert await client.resolve_token(token) == user


async def test_a_resolution_is_served_from_the_process_without_a_second_call(
    client: UserServiceClient, users: FakeUserService
) -> None:
    token, _ = jwt_like()
    ada, _ = users.add("ada", token)
    before = hits()
    await resolved_twice(client, token, ada)
    assert len(users.requests) == 1
    assert hits() - before == 1


async def test_an_entry_lives_at_most_30_s_and_never_past_the_token_expiry(
    client: UserServiceClient, users: FakeUserService
) -> None:
    clock = Clock()
    client.tokens = LocalCache(max_entries=10, name="token", service="common", clock=clock)
    (long_lived, _), (short_lived, _) = jwt_like(expires_in=3600), jwt_like(expires_in=5)
    users.add("ada", long_lived)
    users.add("bob", short_lived)
    for token in (long_lived, short_lived):
        await client.resolve_token(token)
    assert len(client.tokens) == 2
    clock.now += 5
    assert client.tokens.get(key(short_lived)) is None
    clock.now += TOKEN_CACHE_MAX_SECONDS - 5 - 0.001
    assert client.tokens.get(key(long_lived)) is not None
    clock.now += 0.001
    assert client.tokens.get(key(long_lived)) is None


async def test_an_expired_or_unreadable_token_is_asked_every_time(
    client: UserServiceClient, users: FakeUserService
) -> None:
    expired, _ = jwt_like(expires_in=-1)
    for token in (expired, "not-a-jwt"):
        user, _ = users.add("ada", token)
        await resolved_twice(client, token, user)
    assert len(users.requests) == 4


async def test_a_logout_drops_that_token_only(
    client: UserServiceClient, users: FakeUserService
) -> None:
    (out, out_id), (kept, _) = jwt_like(), jwt_like()
    ada, _ = users.add("ada", out)
    users.users[kept] = ada
    await client.resolve_token(out)
    await client.resolve_token(kept)
    users.publish("logout", ada, token_id=out_id)
    await until(lambda: len(client.tokens) == 1)
    del users.users[out]
    with pytest.raises(Exception, match="Invalid or expired token"):
        await client.resolve_token(out)
    assert await client.resolve_token(kept) == ada
    assert len(users.requests) == 3


async def test_a_password_change_drops_earlier_generations_but_not_the_new_session(
    client: UserServiceClient, users: FakeUserService
) -> None:
    (old, _), (new, _) = jwt_like(generation=0), jwt_like(generation=1)
    ada, _ = users.add("ada", old)
    users.users[new] = ada
    await client.resolve_token(old)
    await client.resolve_token(new)
    users.publish("password_changed", ada, generation=1)
    await until(lambda: len(client.tokens) == 1)
    requests = len(users.requests)
    assert await client.resolve_token(new) == ada
    assert len(users.requests) == requests


@pytest.mark.parametrize("kind", ["deleted", "password_changed"])
async def test_a_deletion_drops_every_token_of_the_user_and_no_other(
    client: UserServiceClient, users: FakeUserService, kind: str
) -> None:
    """A password change without a generation is read as ending every session."""
    (first, _), (second, _), (other, _) = jwt_like(), jwt_like(), jwt_like()
    ada, _ = users.add("ada", first)
    users.users[second] = ada
    users.add("bob", other)
    for token in (first, second, other):
        await client.resolve_token(token)
    users.publish(kind, ada)
    await until(lambda: len(client.tokens) == 1)
    assert client.tokens.get(key(other)) is not None
    assert client.tokens.get(key(first)) is client.tokens.get(key(second)) is None


async def test_nothing_is_cached_before_the_feed_tail_is_known(users: FakeUserService) -> None:
    token, _ = jwt_like()
    ada, _ = users.add("ada", token)
    client = UserServiceClient(
        "http://user.test", USER_SECRET, service="common", transport=users.transport()
    )
    try:
        await resolved_twice(client, token, ada)
    finally:
        await client.aclose()
    assert len(users.requests) == 2


async def test_a_resolution_answered_across_an_event_is_not_cached(
    users: FakeUserService,
) -> None:
    """The user service may have answered before the logout it then recorded."""
    token, token_id = jwt_like()
    ada, _ = users.add("ada", token)

    def answer_then_log_out(request: httpx.Request) -> httpx.Response:
        response = users(request)
        if request.url.path == TOKEN_PATH:
            follower.forget(users.publish("logout", ada, token_id=token_id))
        return response

    transport = httpx.MockTransport(answer_then_log_out)
    follower = UserServiceClient(
        "http://user.test", USER_SECRET, service="common", transport=transport
    )
    async with follower.following():
        await until(lambda: follower.feed.cursor is not None)
        assert await follower.resolve_token(token) == ada
    await follower.aclose()
    assert len(follower.tokens) == 0


async def test_while_the_feed_fails_cached_entries_keep_their_30_s_bound(
    client: UserServiceClient, users: FakeUserService
) -> None:
    token, _ = jwt_like()
    ada, _ = users.add("ada", token)
    users.secret = "rotated-away"  # every call, the feed's included, is refused
    await until(lambda: client.feed.failing)
    users.secret = USER_SECRET
    await client.resolve_token(token)
    users.secret = "rotated-away"
    assert await client.resolve_token(token) == ada
    assert len(users.requests) == 1


async def test_concurrent_misses_of_one_token_share_one_call(
    client: UserServiceClient, users: FakeUserService
) -> None:
    token, _ = jwt_like()
    ada, _ = users.add("ada", token)
    assert await asyncio.gather(*(client.resolve_token(token) for _ in range(5))) == [ada] * 5
    assert len(users.requests) == 1


async def test_concurrent_misses_of_a_refused_token_all_get_the_401(
    client: UserServiceClient, users: FakeUserService
) -> None:
    token, _ = jwt_like()
    answers = await asyncio.gather(
        *(client.resolve_token(token) for _ in range(3)), return_exceptions=True
    )
    assert [getattr(a, "status_code", None) for a in answers] == [401] * 3
    assert len(users.requests) == 1
