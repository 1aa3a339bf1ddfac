"""Migrations: upgrade head matches the models; downgrade base removes everything."""

from sqlalchemy.ext.asyncio import create_async_engine

from shop_common.testing.fixtures import (
    migration_drift,
    run_alembic,
    script_revisions,
    table_names,
    temporary_database,
)
from user_service.models import SCHEMA_REVISIONS, Base


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


def test_the_code_names_every_migration_for_readiness() -> None:
    # /ready compares the database's revision with these (shop_common.health)
    assert script_revisions("user") == SCHEMA_REVISIONS
