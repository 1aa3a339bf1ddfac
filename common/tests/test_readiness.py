"""`/ready` is not rate-limited, so a flood of it must stay cheap: each process checks its
dependencies at most about once a second, callers during a check share it, and a failed
result is reused only briefly."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop_common.health import (
    READY_FAILED_TTL_SECONDS,
    READY_OK_TTL_SECONDS,
    SCHEMA_BEHIND,
    Readiness,
)

FLOOD = 200
OK = {"database": "ok", "redis": "ok"}
DOWN = {"database": "unavailable", "redis": "ok"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingCheck:
    """A dependency check that answers `result`, optionally only once `gate` opens."""

    def __init__(self, result: dict[str, str], gate: asyncio.Event | None = None) -> None:
        self.result = result
        self.gate = gate
        self.calls = 0

    async def __call__(self) -> dict[str, str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return dict(self.result)


@contextmanager
def pool_checkouts(app: FastAPI) -> Iterator[list[float]]:
    """When each connection was taken from the app's pool while the block ran."""
    checkouts: list[float] = []

    def count(*_: Any) -> None:
        checkouts.append(time.monotonic())

    pool = app.state.db.engine.sync_engine.pool
    event.listen(pool, "checkout", count)
    try:
        yield checkouts
    finally:
        event.remove(pool, "checkout", count)


async def test_a_flood_of_ready_checks_the_database_at_most_once_a_second(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with pool_checkouts(app) as checkouts:
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get("/ready") for _ in range(FLOOD)))
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * FLOOD
    assert all(r.json() == {"status": "ready", "checks": OK} for r in responses)
    assert 1 <= len(checkouts) <= int(elapsed / READY_OK_TTL_SECONDS) + 1


async def test_metrics_scrapes_share_the_readiness_result(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with pool_checkouts(app) as checkouts:
        started = time.monotonic()
        assert (await client.get("/ready")).status_code == 200
        scrapes = await asyncio.gather(*(client.get("/metrics") for _ in range(20)))
        elapsed = time.monotonic() - started
    assert {r.status_code for r in scrapes} == {200}
    assert 'dependency_up{dependency="database",service="common"} 1.0' in scrapes[0].text
    assert 1 <= len(checkouts) <= int(elapsed / READY_OK_TTL_SECONDS) + 1


async def test_concurrent_callers_share_the_check_in_flight() -> None:
    gate = asyncio.Event()
    check = CountingCheck(OK, gate)
    readiness = Readiness(check)
    callers = [asyncio.create_task(readiness.checks()) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*callers)
    assert check.calls == 1
    assert results == [OK] * 50


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_check() -> None:
    gate = asyncio.Event()
    check = CountingCheck(OK, gate)
    readiness = Readiness(check)
    leaving = asyncio.create_task(readiness.checks())
    staying = asyncio.create_task(readiness.checks())
    await asyncio.sleep(0)
    leaving.cancel()
    gate.set()
    assert await staying == OK
    assert check.calls == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_success_is_reused_for_about_a_second() -> None:
    clock, check = FakeClock(), CountingCheck(OK)
    readiness = Readiness(check, clock=clock)
    assert await readiness.checks() == OK
    clock.now += READY_OK_TTL_SECONDS * 0.9
    assert await readiness.checks() == OK
    assert check.calls == 1
    clock.now += READY_OK_TTL_SECONDS * 0.2
    await readiness.checks()
    assert check.calls == 2


async def test_a_failure_is_reused_only_briefly() -> None:
    clock, check = FakeClock(), CountingCheck(DOWN)
    readiness = Readiness(check, clock=clock)
    assert await readiness.checks() == DOWN
    clock.now += READY_FAILED_TTL_SECONDS * 0.5
    assert await readiness.checks() == DOWN
    assert check.calls == 1
    check.result = OK  # the dependency came back: seen once the short reuse ends
    clock.now += READY_FAILED_TTL_SECONDS
    assert await readiness.checks() == OK
    assert check.calls == 2
    assert READY_FAILED_TTL_SECONDS < READY_OK_TTL_SECONDS


REVISIONS = ("aaaa00000001", "aaaa00000002")


@pytest.fixture
async def alembic_version(engine: AsyncEngine) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Sets the test database's Alembic revision (the test app has no migrations of its own);
    the table is dropped afterwards."""

    async def set_revision(revision: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS alembic_version (version_num varchar(32))")
            )
            await conn.execute(text("DELETE FROM alembic_version"))
            if revision:
                await conn.execute(
                    text("INSERT INTO alembic_version VALUES (:revision)"), {"revision": revision}
                )

    yield set_revision
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.mark.parametrize(
    ("revision", "ready"),
    [
        (None, False),  # never migrated: no alembic_version table
        ("", False),  # migrated down to nothing
        (REVISIONS[0], False),  # a release behind (its migration Job has not finished)
        (REVISIONS[1], True),  # at the code's head
        ("bbbb00000003", True),  # newer, from the next release during its rolling update
    ],
)
async def test_ready_refuses_a_database_behind_the_schema_revision(
    app: FastAPI,
    client: httpx.AsyncClient,
    alembic_version: Callable[[str], Awaitable[None]],
    revision: str | None,
    ready: bool,
) -> None:
    app.state.schema_revisions = REVISIONS
    if revision is not None:
        await alembic_version(revision)
    answer = await client.get("/ready")
    metrics = (await client.get("/metrics")).text
    if ready:
        assert answer.status_code == 200
        assert answer.json() == {"status": "ready", "checks": OK}
        assert 'dependency_up{dependency="database",service="common"} 1.0' in metrics
    else:
        assert answer.status_code == 503
        assert answer.json() == {
            "message": "Service not ready",
            "code": "not_ready",
            "status": "unavailable",
            "checks": {"database": SCHEMA_BEHIND, "redis": "ok"},
        }
        assert 'dependency_up{dependency="database",service="common"} 0.0' in metrics
