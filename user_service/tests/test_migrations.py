"""Migrations: upgrade head matches the models; downgrade base removes everything."""

from sqlalchemy.ext.asyncio import create_async_engine

from shop_common.testing.fixtures import (
    migration_drift,
    run_alembic,
    table_names,
    temporary_database,
)
from user_service.models import Base


async def test_migrations_match_the_models_and_downgrade_to_nothing() -> None:
    async with temporary_database("user_migrations", "user") as url:
        engine = create_async_engine(url)
        try:
            assert await migration_drift(engine, Base.metadata) == []
            await run_alembic("user", url, "base", downgrade=True)
            assert await table_names(engine) <= {"alembic_version"}
            await run_alembic("user", url)
            assert {"users", "refresh_tokens"} <= await table_names(engine)
        finally:
            await engine.dispose()
