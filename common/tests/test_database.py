"""The session dependency on real PostgreSQL: one transaction per request, `after_commit`
and `commit_early`, and every database failure answered 503 (a conflict 409), never 500."""

import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shop_common.errors import is_database_failure
from shop_common.testing.fixtures import app_client

from .testapp import CommonTestSettings, Item, build_app

UNAVAILABLE = {
    "message": "The database is unavailable, try again shortly",
    "code": "database_unavailable",
}


async def names(db: AsyncSession) -> list[str]:
    db.expire_all()
    return list(await db.scalars(select(Item.name).order_by(Item.name)))


async def test_a_request_commits_its_work(client: httpx.AsyncClient, db: AsyncSession) -> None:
    response = await client.post("/items/", json={"name": "lamp"})
    assert response.status_code == 201
    assert response.json()["name"] == "lamp"
    assert await names(db) == ["lamp"]
    assert (await client.get("/items/")).json() == {"names": ["lamp"]}


async def test_after_commit_callbacks_run_once_the_transaction_committed(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    response = await client.post("/items/after-commit/", json={"name": "lamp"})
    assert response.status_code == 201
    # Another connection already saw the row when the callback ran, before the response.
    assert app.state.events == [("lamp", 1)]
    assert await names(db) == ["lamp"]


async def test_after_commit_callbacks_are_skipped_on_rollback(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    response = await client.post(
        "/items/after-commit/", json={"name": "lamp"}, params={"fail": True}
    )
    assert response.status_code == 409
    assert response.json() == {"message": "Refused after the write", "code": "refused"}
    assert app.state.events == []
    assert await names(db) == []


async def test_commit_early_keeps_the_work_so_far_although_the_request_then_fails(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    response = await client.post("/items/commit-early/")
    assert response.status_code == 409
    assert response.json() == {"message": "The second step failed", "code": "second_step_failed"}
    assert await names(db) == ["kept"]
    # The callback registered before the early commit ran at it; the later one never did.
    assert app.state.events == [("early", 1)]


async def test_a_unique_key_taken_meanwhile_is_409_conflict(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    assert (await client.post("/items/", json={"name": "lamp"})).status_code == 201
    response = await client.post("/items/", json={"name": "lamp"})
    assert response.status_code == 409
    assert response.json() == {
        "message": "The request conflicts with a concurrent change, try again",
        "code": "conflict",
    }
    assert await names(db) == ["lamp"]


@pytest.mark.parametrize(
    "body", [{"name": "n" * 21}, {"name": "big", "quantity": 40000}], ids=["too-long", "int2"]
)
async def test_a_value_the_column_cannot_hold_is_422_invalid_value(
    client: httpx.AsyncClient, db: AsyncSession, body: dict[str, object]
) -> None:
    response = await client.post("/items/", json=body)
    assert response.json() == {
        "message": "A value is out of the accepted range",
        "code": "invalid_value",
    }
    assert response.status_code == 422
    assert await names(db) == []


async def test_a_missing_database_socket_is_503_with_retry_after(
    make_settings: Callable[..., CommonTestSettings], tmp_path: Path
) -> None:
    gone = f"postgresql+asyncpg://postgres@/common?host={tmp_path / 'no-such-socket-dir'}"
    async with app_client(build_app(make_settings(database_url=gone))) as client:
        response = await client.get("/items/", headers={"X-Request-ID": "no-db"})
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Request-ID"] == "no-db"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/items/", None), ("POST", "/items/", {"name": "lamp"})],
    ids=["read", "write"],
)
async def test_a_statement_over_the_statement_timeout_is_503_and_writes_nothing(
    make_settings: Callable[..., CommonTestSettings],
    engine: AsyncEngine,
    db: AsyncSession,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    settings = make_settings(db_statement_timeout_seconds=0.2)
    async with app_client(build_app(settings)) as client:
        async with engine.connect() as blocker:
            await blocker.execute(text("LOCK TABLE items IN ACCESS EXCLUSIVE MODE"))
            started = time.perf_counter()
            response = await client.request(method, path, json=body)
            elapsed = time.perf_counter() - started
            await blocker.rollback()
        assert response.status_code == 503
        assert response.json() == UNAVAILABLE
        assert response.headers["Retry-After"] == "5"
        # Cut by the server's statement_timeout, not asyncpg's backstop one second later.
        assert elapsed < 1.0
        assert (await client.get("/items/")).json() == {"names": []}
    assert await names(db) == []


def _dbapi(error: type[sqlalchemy.exc.DBAPIError], cause: Exception) -> BaseException:
    return error("SELECT 1", {}, cause)


@pytest.mark.parametrize(
    "exc",
    [
        _dbapi(sqlalchemy.exc.OperationalError, ConnectionResetError()),
        _dbapi(sqlalchemy.exc.InterfaceError, Exception("connection is closed")),
        _dbapi(sqlalchemy.exc.DBAPIError, asyncpg.QueryCanceledError("statement timeout")),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        sqlalchemy.exc.PendingRollbackError("rolled back"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        FileNotFoundError(2, "No such file or directory"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_an_unreachable_or_too_slow_database_is_a_failure(exc: BaseException) -> None:
    assert is_database_failure(exc) is True


@pytest.mark.parametrize(
    "exc",
    [
        _dbapi(sqlalchemy.exc.IntegrityError, Exception("duplicate key")),
        _dbapi(sqlalchemy.exc.DataError, Exception("value too long")),
        _dbapi(sqlalchemy.exc.ProgrammingError, Exception("syntax error")),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.NumericValueOutOfRangeError("smallint out of range"),
        asyncpg.UndefinedTableError("relation does not exist"),
        ValueError("a bug"),
        RuntimeError("a bug"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_errors_about_the_request_or_the_code_are_not_failures(exc: BaseException) -> None:
    assert is_database_failure(exc) is False


async def test_a_real_data_error_from_the_driver_is_not_a_failure(engine: AsyncEngine) -> None:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT CAST('99999' AS smallint)"))
    driver_error = raised.value.orig
    assert driver_error is not None
    assert isinstance(driver_error.__cause__, asyncpg.NumericValueOutOfRangeError)
    assert is_database_failure(raised.value) is False
