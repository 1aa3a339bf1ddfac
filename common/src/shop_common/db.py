"""Async SQLAlchemy engine, the constraint naming convention and the per-request session dependency.

One transaction per request: the session dependency commits after the route returns and
before the response is sent (FastAPI's `Depends(..., scope="function")`), rolls back on error.
Services and repositories only `flush()`.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shop_common.settings import ServiceSettings

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "ModelDefaults",
    "SessionDep",
    "after_commit",
    "commit_early",
    "get_session",
    "insert",
    "remove",
    "service_metadata",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """A service's own MetaData, with the shared constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class ModelDefaults:
    """Mixed into every service's `DeclarativeBase` (each keeps its own registry and
    `metadata = service_metadata()`): what every model of the shop shares."""

    # Read server-set timestamps back with RETURNING instead of a lazy load.
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}


class Database:
    """The engine and session factory of one service, created once per app.

    Every wait is bounded (see `ServiceSettings`): the pool wait, the connect, each statement
    on the server (`statement_timeout`) and, as a backstop when the server itself is stalled,
    on the client (asyncpg's `command_timeout`, one second later). A transaction a crashed
    client left open is ended by the server (`idle_in_transaction_session_timeout`).
    """

    def __init__(self, settings: ServiceSettings) -> None:
        statement_ms = round(settings.db_statement_timeout_seconds * 1000)
        idle_ms = round(settings.db_idle_in_transaction_timeout_seconds * 1000)
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url.get_secret_value(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            # No ping per checkout (a round trip on every transaction, measured at 4-8% of
            # the order path's CPU): a connection the server dropped fails once, SQLAlchemy
            # then discards the pool's connections and the client gets a 503.
            pool_pre_ping=False,
            pool_recycle=1800,
            # Bound values (a password hash, user input) never reach an error or a log line.
            hide_parameters=True,
            connect_args={
                "timeout": settings.db_connect_timeout_seconds,
                "command_timeout": settings.db_statement_timeout_seconds + 1.0,
                "server_settings": {
                    "application_name": settings.service_name,
                    "statement_timeout": str(statement_ms),
                    "idle_in_transaction_session_timeout": str(idle_ms),
                },
            },
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool (an execution_options copy shares it), without BEGIN/COMMIT: on
        # asyncpg autocommit is a flag on the connection, no round trip.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.pool_max = settings.db_pool_size + settings.db_max_overflow

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection on which every statement is its own transaction.

        For the hot paths whose every step is one statement (docs/architecture.md names
        them): no ORM unit of work and no BEGIN/COMMIT round trips, with the same pool,
        timeouts and database-failure mapping as the sessions.
        """
        async with self._autocommit.connect() as connection:
            yield connection

    def checked_out(self) -> int:
        pool = self.engine.sync_engine.pool
        checkedout = getattr(pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    async def dispose(self) -> None:
        await self.engine.dispose()


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the request's transaction has committed, before the response
    is sent (used to drop cache entries the write made stale). Skipped on rollback."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


async def _commit(session: AsyncSession) -> None:
    if session.in_transaction():  # a read served from a cache began none: nothing to end
        await session.commit()
    for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
        await callback()


async def commit_early(session: AsyncSession) -> None:
    """The one sanctioned commit inside a request: make the work so far durable and hand the
    connection back to the pool; the next query opens a new transaction.

    For the few steps that need it: work that must stand although the request then fails
    (revoking a token family when a spent refresh token is replayed), and a slow step that
    must not hold a pooled connection (a password hash). Everything else leaves the commit
    to the session dependency.
    """
    await _commit(session)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        try:
            yield session
            await _commit(session)
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


Row = TypeVar("Row")


async def insert(session: AsyncSession, row: Row) -> Row:
    """Add `row` and flush, so that its defaults and a constraint violation are known now."""
    session.add(row)
    await session.flush()
    return row


async def remove(session: AsyncSession, row: object) -> None:
    """Delete `row` and flush, so that a violated foreign key fails here, not at commit."""
    await session.delete(row)
    await session.flush()
