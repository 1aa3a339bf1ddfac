"""Security review, issue 11: a password change ends every other session whatever races it
(finding 2), the change-password route is no unthrottled password oracle (finding 8), and a
request racing an account deletion is a 401 in the envelope, never a 500 or a deadlock
(finding 11).

The races are made deterministic with `Gate`: the first call of a patched step is held
until the test opens it, so the competing request runs exactly in that window.
"""

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shop_common.testing.fixtures import app_client
from user_service import repository, service, tokens
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import RefreshToken, User

from .conftest import PASSWORD, bearer, register

PROFILE = "/api/v1/profile/"
CHANGE = "/api/v1/change-password/"
LOGIN = "/api/v1/login/"
REFRESH = "/api/v1/refresh-token/"
NEW_PASSWORD = "N3w!Password"
WRONG_PASSWORD = "Wr0ng!Password"
CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}
INVALID_CREDENTIALS = {"message": "Invalid email or password", "code": "invalid_credentials"}
INVALID_TOKEN = {"message": "Invalid or expired token", "code": "invalid_token"}
REVOKED_REFRESH = {"message": "Refresh token already used or revoked", "code": "invalid_token"}
CHANGE_BODY = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
WAIT = 10.0  # seconds; a step that takes longer than this is a hang, not a slow machine


class Gate:
    """Wraps a coroutine function; its first call runs, then is held until `open()`."""

    def __init__(self, target: Callable[..., Awaitable[Any]]) -> None:
        self.target = target
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.target(*args, **kwargs)
        if not self.reached.is_set():
            self.reached.set()
            await self.released.wait()
        return result

    async def hold(self, request: Coroutine[Any, Any, httpx.Response]) -> asyncio.Task[Any]:
        """Start `request` and return once it is held at the gate."""
        task = asyncio.create_task(request)
        await asyncio.wait_for(self.reached.wait(), WAIT)
        return task

    async def open(self, task: asyncio.Task[httpx.Response]) -> httpx.Response:
        self.released.set()
        return await asyncio.wait_for(task, WAIT)


def gate(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> Gate:
    wrapper = Gate(getattr(module, name))
    monkeypatch.setattr(module, name, wrapper)
    return wrapper


async def wait_for_a_lock_wait(engine: AsyncEngine) -> None:
    """Return once some session of this database waits for a row lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + WAIT
    async with engine.connect() as connection:
        while not (await connection.execute(query)).scalar_one():
            assert time.monotonic() < deadline, "the competing request never waited for a lock"
            await connection.rollback()  # the statistics views are frozen per transaction
            await asyncio.sleep(0.01)


async def live_refresh_tokens(db: AsyncSession) -> int:
    db.expire_all()
    query = select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    return int(await db.scalar(query) or 0)


async def count(db: AsyncSession, model: type[User] | type[RefreshToken]) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def assert_body(response: httpx.Response, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status, response.text
    assert response.json() == body


async def assert_session_ended(client: httpx.AsyncClient, pair: dict[str, str]) -> None:
    """Neither token of `pair` works any more: the access token on /profile, the refresh
    token on /refresh-token."""
    profile = await client.get(PROFILE, headers=bearer(pair["access"]))
    assert_body(profile, 401, {"message": "Token has been revoked", "code": "invalid_token"})
    refresh = await client.post(REFRESH, json={"refresh_token": pair["refresh"]})
    assert_body(refresh, 401, REVOKED_REFRESH)


async def test_a_login_that_read_the_old_hash_before_a_change_committed_is_401(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: the login verified the old password, then the change committed while its
    hash ran: it must not come back with a session the change did not end."""
    tokens_before = await register(client)
    held = gate(monkeypatch, service, "verify_password")
    login = await held.hold(client.post(LOGIN, json=CREDENTIALS))
    change = await client.put(CHANGE, json=CHANGE_BODY, headers=bearer(tokens_before["access"]))
    assert change.status_code == 200, change.text
    assert_body(await held.open(login), 401, INVALID_CREDENTIALS)
    assert await count(db, RefreshToken) == 1  # the login stored no token
    assert await live_refresh_tokens(db) == 0
    user = (await db.execute(select(User))).scalar_one()
    assert user.token_generation == 1


async def test_a_login_during_the_change_hash_gets_a_session_the_change_then_ends(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: a login that completes while the change hashes the new password happened
    before the change, so the change ends it: the cut-off is taken after the hash."""
    tokens_before = await register(client)
    held = gate(monkeypatch, service, "hash_password")
    change = await held.hold(
        client.put(CHANGE, json=CHANGE_BODY, headers=bearer(tokens_before["access"]))
    )
    login = await client.post(LOGIN, json=CREDENTIALS)
    assert login.status_code == 200, login.text
    assert (await held.open(change)).status_code == 200
    await assert_session_ended(client, login.json()["data"])
    assert await count(db, RefreshToken) == 2
    assert await live_refresh_tokens(db) == 0


async def test_a_token_from_the_same_instant_as_the_cut_off_is_refused_one_after_it_works(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: with the clock frozen, the token issued before the change, the cut-off and
    the token issued after it share one timestamp; only the one issued before is refused."""
    frozen = time.time()
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: frozen))
    monkeypatch.setattr(service, "_now", lambda: datetime.fromtimestamp(frozen, UTC))
    before = await register(client)
    change = await client.put(CHANGE, json=CHANGE_BODY, headers=bearer(before["access"]))
    assert change.status_code == 200, change.text
    await assert_session_ended(client, before)
    after = await client.post(LOGIN, json={"email": "ada@example.com", "password": NEW_PASSWORD})
    assert after.status_code == 200, after.text
    profile = await client.get(PROFILE, headers=bearer(after.json()["data"]["access"]))
    assert profile.status_code == 200, profile.text
    assert profile.json()["data"]["email"] == "ada@example.com"
    user = (await db.execute(select(User))).scalar_one()
    assert user.tokens_valid_after == datetime.fromtimestamp(frozen, UTC)


async def test_refresh_refuses_a_token_from_before_a_change_even_if_its_row_escaped(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """Finding 2: refresh checks the cut-off itself instead of trusting that every row of
    the user was revoked (a row stored by a racing login escapes that update)."""
    before = await register(client)
    change = await client.put(CHANGE, json=CHANGE_BODY, headers=bearer(before["access"]))
    assert change.status_code == 200, change.text
    await db.execute(update(RefreshToken).values(revoked_at=None))
    await db.commit()
    refresh = await client.post(REFRESH, json={"refresh_token": before["refresh"]})
    assert_body(refresh, 401, REVOKED_REFRESH)
    assert await count(db, RefreshToken) == 1  # no new token was stored
    assert await live_refresh_tokens(db) == 0  # and the stale one is revoked again


async def test_two_racing_changes_the_later_commit_is_400(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: two changes verified the same old password; the one that commits second
    would overwrite a password its old password no longer matches: 400, nothing written."""
    pair = await register(client)
    held = gate(monkeypatch, service, "hash_password")
    first = await held.hold(client.put(CHANGE, json=CHANGE_BODY, headers=bearer(pair["access"])))
    other = {"old_password": PASSWORD, "new_password": "0ther!Password"}
    second = await client.put(CHANGE, json=other, headers=bearer(pair["access"]))
    assert second.status_code == 200, second.text
    assert_body(
        await held.open(first),
        400,
        {"message": "Old password is incorrect", "code": "invalid_old_password"},
    )
    winner = await client.post(
        LOGIN, json={"email": "ada@example.com", "password": "0ther!Password"}
    )
    assert winner.status_code == 200, winner.text
    user = (await db.execute(select(User))).scalar_one()
    assert user.token_generation == 1


async def test_wrong_old_passwords_are_limited_per_account_like_failed_logins(
    make_settings: Callable[..., Settings], db: AsyncSession
) -> None:
    """Finding 8: change-password answered every guess of the old password at full speed;
    it now counts them per account with RATE_LIMIT_LOGIN_ACCOUNT and answers 429 with the
    bucket's RateLimit headers, even to the right password while the limit lasts."""
    async with app_client(create_app(make_settings(rate_limit_login_account="2/minute"))) as c:
        pair = await register(c)
        hash_before = (await db.execute(select(User.password_hash))).scalar_one()
        wrong = {"old_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD}
        answers = [await c.put(CHANGE, json=wrong, headers=bearer(pair["access"])) for _ in "abc"]
        right = await c.put(CHANGE, json=CHANGE_BODY, headers=bearer(pair["access"]))
        login = await c.post(LOGIN, json=CREDENTIALS)
    assert [a.status_code for a in answers] == [400, 400, 429]
    for limited in (answers[-1], right):
        assert_body(
            limited,
            429,
            {
                "message": "Too many wrong passwords for this account, try again later",
                "code": "rate_limited",
            },
        )
        assert limited.headers["RateLimit-Limit"] == "2"
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(limited.headers["RateLimit-Reset"]) <= 60
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert login.status_code == 200  # the account itself is not locked out of logging in
    db.expire_all()
    assert (await db.execute(select(User.password_hash))).scalar_one() == hash_before


async def test_a_successful_change_clears_the_count_of_wrong_old_passwords(
    make_settings: Callable[..., Settings],
) -> None:
    """Finding 8: as for logins, only failures count: a right old password clears them, and
    the limit then counts from zero again."""
    async with app_client(create_app(make_settings(rate_limit_login_account="2/minute"))) as c:
        pair = await register(c)
        wrong = {"old_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD}
        first = await c.put(CHANGE, json=wrong, headers=bearer(pair["access"]))
        change = await c.put(CHANGE, json=CHANGE_BODY, headers=bearer(pair["access"]))
        fresh = (await c.post(LOGIN, json={**CREDENTIALS, "password": NEW_PASSWORD})).json()
        headers = bearer(fresh["data"]["access"])
        later = [(await c.put(CHANGE, json=wrong, headers=headers)).status_code for _ in "abc"]
    assert (first.status_code, change.status_code) == (400, 200)
    assert later == [400, 400, 429]


async def test_a_login_racing_an_account_deletion_is_401(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 11: the account was deleted while the login hashed; storing its refresh token
    broke the foreign key (a 409/500). The account is gone: 401, one message."""
    pair = await register(client)
    held = gate(monkeypatch, service, "verify_password")
    login = await held.hold(client.post(LOGIN, json=CREDENTIALS))
    deleted = await client.delete(PROFILE, headers=bearer(pair["access"]))
    assert deleted.status_code == 200, deleted.text
    response = await held.open(login)
    assert_body(response, 401, INVALID_CREDENTIALS)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await count(db, User), await count(db, RefreshToken)) == (0, 0)


async def test_a_refresh_racing_an_account_deletion_finishes_first_and_then_dies_with_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 11: a refresh held its token row while a deletion took the user row and waited
    for the token row (the cascade); the refresh then needed the user row for its new token:
    a deadlock, one of them a 503. Both now lock the user row first, so they queue."""
    pair = await register(client)
    held = gate(monkeypatch, repository, "get_refresh_token_for_update")
    rotation = await held.hold(client.post(REFRESH, json={"refresh_token": pair["refresh"]}))
    deletion = asyncio.create_task(client.delete(PROFILE, headers=bearer(pair["access"])))
    await wait_for_a_lock_wait(engine)
    refreshed = await held.open(rotation)
    assert refreshed.status_code == 200, refreshed.text
    assert_body(
        await asyncio.wait_for(deletion, WAIT), 200, {"message": "Profile deleted successfully"}
    )
    new_refresh = refreshed.json()["data"]["refresh"]
    assert_body(
        await client.post(REFRESH, json={"refresh_token": new_refresh}),
        401,
        {
            "message": "Invalid refresh token",
            "code": "invalid_token",
        },
    )
    assert (await count(db, User), await count(db, RefreshToken)) == (0, 0)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", PROFILE, {"name": "Ada L."}),
        ("PATCH", PROFILE, {"email": "lovelace@example.com"}),
        ("PUT", CHANGE, CHANGE_BODY),
        ("DELETE", PROFILE, None),
    ],
    ids=["profile-name", "profile-email", "change-password", "second-delete"],
)
async def test_a_write_racing_an_account_deletion_is_401(
    client: httpx.AsyncClient,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    """Finding 11: the token was checked, then the account was deleted before the write:
    the update of a row that is gone was a 500. The account is gone: 401."""
    pair = await register(client)
    held = gate(monkeypatch, service, "authenticate")
    write = await held.hold(client.request(method, path, json=body, headers=bearer(pair["access"])))
    deleted = await client.delete(PROFILE, headers=bearer(pair["access"]))
    assert deleted.status_code == 200, deleted.text
    response = await held.open(write)
    assert_body(response, 401, INVALID_TOKEN)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await count(db, User), await count(db, RefreshToken)) == (0, 0)
