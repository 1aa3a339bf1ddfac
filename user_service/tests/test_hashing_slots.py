"""Issue 12: argon2 work is bounded per process (`passwords.HashingSlots`), so a flood of
logins cannot take every core from the other routes. A password check that finds every
slot taken waits briefly in a short queue, then gets 429 with `Retry-After`, at once rather
than behind the flood; routes that hash nothing are served meanwhile.

The slots are filled deterministically: `HeldHasher` wraps the real argon2 hasher and holds
each computation on its thread until the test releases it. Nothing is timed beyond "the
answer came while the slot was still held": refused, not queued."""

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.low_level import Type
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.testing.fixtures import app_client
from user_service import passwords
from user_service.config import Settings, default_hash_slots
from user_service.main import create_app
from user_service.models import User

from .conftest import PASSWORD, bearer, register

LOGIN = "/api/v1/login/"
CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}
BUSY = {"message": passwords.BUSY_MESSAGE, "code": "rate_limited"}
WAIT = 10.0  # seconds; longer than this is a hang (a request queued behind the held hash)


class HeldHasher:
    """The real hasher, but every computation waits on its thread until `release()`."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.started = threading.Semaphore(0)
        self.released = threading.Event()

    def hash(self, password: str) -> str:
        self._hold()
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self._hold()
        return self.real.verify(password_hash, password)

    def _hold(self) -> None:
        self.started.release()
        self.released.wait(2 * WAIT)  # past any `answer`: a queued request times out

    async def running(self) -> None:
        """Return once a held computation has started on its thread."""
        deadline = time.monotonic() + WAIT
        while not self.started.acquire(blocking=False):
            assert time.monotonic() < deadline, "no hash started"
            await asyncio.sleep(0.01)

    def release(self) -> None:
        self.released.set()


def hold(monkeypatch: pytest.MonkeyPatch) -> HeldHasher:
    """From now on every hash is held (the account to log in to exists already)."""
    hasher = HeldHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    return hasher


@asynccontextmanager
async def one_slot(
    make_settings: Callable[..., Settings], wait_seconds: float
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """A client of an app with one hashing slot, waited for at most `wait_seconds`."""
    app = create_app(
        make_settings(
            password_hash_slots=1,
            password_hash_max_waiting=2,
            password_hash_wait_seconds=wait_seconds,
        )
    )
    async with app_client(app) as client:
        yield client, app


@pytest.fixture
async def busy_client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """One hashing slot and a short wait for it."""
    async with one_slot(make_settings, 0.05) as (client, _):
        yield client


async def fill_the_slot(
    client: httpx.AsyncClient, held: HeldHasher
) -> asyncio.Task[httpx.Response]:
    login = asyncio.create_task(client.post(LOGIN, json=CREDENTIALS))
    await held.running()
    return login


def assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == BUSY
    assert response.headers["Retry-After"] == "1"


async def answer(request: Any) -> httpx.Response:
    """The response, which must come while the slot is still held: refused, not queued."""
    response: httpx.Response = await asyncio.wait_for(request, WAIT)
    return response


async def test_a_login_beyond_the_slots_is_refused_with_retry_after(
    busy_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(busy_client)
    held = hold(monkeypatch)
    first = await fill_the_slot(busy_client, held)
    try:
        excess = await answer(busy_client.post(LOGIN, json=CREDENTIALS))
    finally:
        held.release()
    assert_busy(excess)
    assert excess.headers["RateLimit-Limit"] == "10000"  # the auth bucket's headers
    assert (await asyncio.wait_for(first, WAIT)).status_code == 200


async def test_other_routes_are_served_while_the_slots_are_full(
    busy_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, db: AsyncSession
) -> None:
    tokens = await register(busy_client)
    held = hold(monkeypatch)
    first = await fill_the_slot(busy_client, held)
    try:
        profile = await answer(
            busy_client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
        )
        change = await answer(
            busy_client.put(
                "/api/v1/change-password/",
                json={"old_password": PASSWORD, "new_password": "N3w!Password"},
                headers=bearer(tokens["access"]),
            )
        )
        body = {"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}
        registration = await answer(busy_client.post("/api/v1/register/", json=body))
    finally:
        held.release()
    assert profile.status_code == 200
    assert profile.json()["data"]["email"] == "ada@example.com"
    assert_busy(change)
    assert_busy(registration)
    assert (await asyncio.wait_for(first, WAIT)).status_code == 200
    emails = (await db.scalars(select(User.email))).all()
    assert emails == ["ada@example.com"]  # the refused registration stored nothing


async def test_the_queue_for_a_slot_is_bounded(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a wait longer than any test, two logins queue (the queue's length) and the
    next is refused at once; the queued ones are served when the slot frees."""
    async with one_slot(make_settings, 30.0) as (client, app):
        await register(client)
        held = hold(monkeypatch)
        first = await fill_the_slot(client, held)
        queued = [asyncio.create_task(client.post(LOGIN, json=CREDENTIALS)) for _ in range(2)]
        try:
            deadline = time.monotonic() + WAIT
            while app.state.hashing.waiting < 2:
                assert time.monotonic() < deadline, "the logins never queued"
                await asyncio.sleep(0.01)
            excess = await answer(client.post(LOGIN, json=CREDENTIALS))
        finally:
            held.release()
        answers = await asyncio.wait_for(asyncio.gather(first, *queued), WAIT)
    assert_busy(excess)
    assert [r.status_code for r in answers] == [200, 200, 200]


def test_argon2_parameters_are_at_least_the_owasp_minimum() -> None:
    """argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum), read from a real hash."""
    params = extract_parameters(passwords._hasher.hash(PASSWORD))
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism >= 1


@pytest.mark.parametrize(
    ("cores", "workers", "slots"), [(2, "2", 1), (8, "2", 4), (2, "", 2), (1, "4", 1)]
)
def test_the_default_slots_share_the_cores_among_the_workers(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: str, slots: int
) -> None:
    """Issue 12: with the cores per process, 2 workers on 2 cores hashed 4 at once and a
    login flood grew the profile route's p99 6.7x; the service as a whole hashes about one
    per core."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setenv("WEB_CONCURRENCY", workers)
    assert default_hash_slots() == slots
