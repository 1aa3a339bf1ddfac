"""Migrations: upgrade head matches the models; downgrade base removes everything."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from product_service.models import SCHEMA_REVISIONS, Base
from shop_common.testing.fixtures import (
    migration_drift,
    run_alembic,
    script_revisions,
    table_names,
    temporary_database,
)

from .conftest import pg_trgm_available

TABLES = {"products", "reservations", "reservation_items"}
TRIGRAM_INDEXES = {"ix_products_name_trgm", "ix_products_description_trgm"}
HAS_TRGM = text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")


async def drift(engine: AsyncEngine) -> list[Any]:
    """The differences, less the trigram indexes when this server cannot build them (the
    migration skips them there on purpose)."""
    differences = await migration_drift(engine, Base.metadata)
    if await pg_trgm_available(engine):
        return differences
    return [d for d in differences if not (d[0] == "add_index" and d[1].name in TRIGRAM_INDEXES)]


async def test_migrations_match_the_models_and_downgrade_to_nothing() -> None:
    async with temporary_database("product_migrations", "product") as url:
        engine = create_async_engine(url)
        try:
            assert await drift(engine) == []
            await run_alembic("product", url, "base", downgrade=True)
            assert await table_names(engine) <= {"alembic_version"}
            async with engine.connect() as conn:
                assert await conn.scalar(HAS_TRGM) is None
            await run_alembic("product", url)
            assert await table_names(engine) >= TABLES
        finally:
            await engine.dispose()


def test_the_code_names_every_migration_for_readiness() -> None:
    # /ready compares the database's revision with these (shop_common.health)
    assert script_revisions("product") == SCHEMA_REVISIONS
