"""The Alembic migrations build exactly the models' schema, and undo it."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_service.main import create_app
from order_service.models import SCHEMA_REVISIONS, Base
from shop_common.health import READY_FAILED_TTL_SECONDS
from shop_common.testing.fixtures import (
    app_client,
    migration_drift,
    run_alembic,
    script_revisions,
    table_names,
    temporary_database,
)

from .conftest import order_settings

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


def test_the_code_names_every_migration_for_readiness() -> None:
    # /ready compares the database's revision with these (shop_common.health)
    assert script_revisions("order") == SCHEMA_REVISIONS


async def test_ready_waits_for_the_releases_migration(redis_prefix: str) -> None:
    # Kubernetes starts the pods with MIGRATE_ON_START=0 while the migration Job runs: a pod
    # whose database is a revision behind must take no traffic until the Job has finished.
    async with temporary_database("order_ready", "order") as url:
        await run_alembic("order", url, SCHEMA_REVISIONS[-2], downgrade=True)
        async with app_client(create_app(order_settings(url, redis_prefix))) as client:
            behind = await client.get("/ready")
            assert behind.status_code == 503
            assert behind.json()["checks"] == {"database": "schema_behind", "redis": "ok"}
            await run_alembic("order", url)
            await asyncio.sleep(READY_FAILED_TTL_SECONDS * 2)  # a failure is reused briefly
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
