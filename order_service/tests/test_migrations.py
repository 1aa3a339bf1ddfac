"""The Alembic migrations build exactly the models' schema, and undo it."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_service.models import Base
from shop_common.testing.fixtures import (
    migration_drift,
    run_alembic,
    table_names,
    temporary_database,
)

TABLES = {"orders", "order_items", "idempotency_keys", "alembic_version"}


async def test_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    assert await migration_drift(engine, Base.metadata) == []
    assert await table_names(engine) == TABLES


async def test_migrations_downgrade_to_nothing_and_upgrade_again() -> None:
    async with temporary_database("order_migrations", "order") as url:
        engine = create_async_engine(url)
        try:
            await run_alembic("order", url, "base", downgrade=True)
            assert await table_names(engine) == {"alembic_version"}
            await run_alembic("order", url)
            assert await migration_drift(engine, Base.metadata) == []
        finally:
            await engine.dispose()
