"""What every service's Alembic `env.py` does, written once.

The URL comes from Alembic's `sqlalchemy.url` option when a caller sets it (the tests do),
else from `<PREFIX>DATABASE_URL`, else from `DATABASE_URL`. Only the URL is read, so
migrations run without the service's secrets.
"""

import asyncio
import os

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["run_migrations"]


def _database_url(env_prefix: str) -> str:
    configured = context.config.get_main_option("sqlalchemy.url")
    url = (
        configured or os.environ.get(f"{env_prefix}DATABASE_URL") or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError(f"set {env_prefix}DATABASE_URL (or DATABASE_URL) to migrate")
    return url


def _configure(connection: Connection | None, metadata: MetaData, url: str | None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
    )


def _run_sync(connection: Connection, metadata: MetaData) -> None:
    _configure(connection, metadata, None)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, metadata)
    await engine.dispose()


def run_migrations(metadata: MetaData, env_prefix: str) -> None:
    url = _database_url(env_prefix)
    if context.is_offline_mode():
        _configure(None, metadata, url)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_online(url, metadata))
