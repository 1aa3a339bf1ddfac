"""Migrations: upgrade head matches the models; the search revision adds what a server
without pg_trgm skipped and counts the products already there; the price bound stops on
products above it; the trigram indexes lose their pending list; downgrades undo them."""

import secrets
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from product_service.models import SCHEMA_REVISIONS, Base
from shop_common.testing.fixtures import (
    migration_drift,
    run_alembic,
    script_revisions,
    table_names,
    temporary_database,
)

from .conftest import ADA

TABLES = {"products", "product_count", "reservations", "reservation_items"}
TRIGRAM_INDEXES = {"ix_products_name_trgm", "ix_products_description_trgm"}
FIRST = SCHEMA_REVISIONS[0]
BEFORE_PRICE_BOUND = "4fd2975c436c"
BEFORE_NO_PENDING_LIST = "9b3e1c7d5a20"
HAS_TRGM = text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
INDEXES = text("SELECT indexname FROM pg_indexes WHERE tablename = 'products'")
KEPT = text("SELECT n FROM product_count WHERE id = 1")
COUNT_FUNCTION = text("SELECT 1 FROM pg_proc WHERE proname = 'product_count_apply'")
REVISION = text("SELECT version_num FROM alembic_version")
INDEX_OPTIONS = text(
    "SELECT relname, reloptions FROM pg_class "
    "WHERE relname IN ('ix_products_name_trgm', 'ix_products_description_trgm')"
)
FOUND = text("SELECT count(*) FROM products WHERE name ILIKE '%p %'")


async def insert_products(engine: AsyncEngine, count: int) -> None:
    statement = text(
        "INSERT INTO products (id, creator_id, name, price) "
        "SELECT gen_random_uuid(), :creator, 'p ' || gen_random_uuid(), 1 "
        "FROM generate_series(1, :count)"
    )
    async with engine.begin() as conn:
        await conn.execute(statement, {"creator": ADA.id, "count": count})


async def as_without_pg_trgm(engine: AsyncEngine) -> None:
    """What the first revision left on a server without pg_trgm: no extension, no index."""
    async with engine.begin() as conn:
        for index in TRIGRAM_INDEXES:
            await conn.execute(text(f"DROP INDEX {index}"))
        await conn.execute(text("DROP EXTENSION pg_trgm"))


@pytest.fixture
async def first_revision() -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A database at the first revision as a server without pg_trgm left it."""
    async with temporary_database("product_search_revision") as url:
        engine = create_async_engine(url)
        try:
            await run_alembic("product", url, FIRST)
            await as_without_pg_trgm(engine)
            yield url, engine
        finally:
            await engine.dispose()


async def test_migrations_match_the_models_and_downgrade_to_nothing() -> None:
    async with temporary_database("product_migrations", "product") as url:
        engine = create_async_engine(url)
        try:
            assert await migration_drift(engine, Base.metadata) == []
            await run_alembic("product", url, "base", downgrade=True)
            assert await table_names(engine) <= {"alembic_version"}
            async with engine.connect() as conn:
                assert await conn.scalar(HAS_TRGM) is None
                assert await conn.scalar(COUNT_FUNCTION) is None
            await run_alembic("product", url)
            assert await table_names(engine) >= TABLES
        finally:
            await engine.dispose()


async def test_upgrade_adds_the_skipped_trigram_indexes_and_counts_existing_products(
    first_revision: tuple[str, AsyncEngine],
) -> None:
    url, engine = first_revision
    await insert_products(engine, 3)

    await run_alembic("product", url)

    async with engine.connect() as conn:
        assert await conn.scalar(HAS_TRGM) == 1
        assert set((await conn.scalars(INDEXES)).all()) >= TRIGRAM_INDEXES
        assert await conn.scalar(KEPT) == 3
    assert await migration_drift(engine, Base.metadata) == []


async def test_downgrade_drops_the_count_keeps_the_indexes_and_upgrade_recounts(
    first_revision: tuple[str, AsyncEngine],
) -> None:
    url, engine = first_revision
    await run_alembic("product", url)
    await insert_products(engine, 2)

    await run_alembic("product", url, FIRST, downgrade=True)
    await insert_products(engine, 1)  # no trigger left to fire

    assert "product_count" not in await table_names(engine)
    async with engine.connect() as conn:
        assert await conn.scalar(COUNT_FUNCTION) is None
        assert set((await conn.scalars(INDEXES)).all()) >= TRIGRAM_INDEXES
        assert await conn.scalar(REVISION) == FIRST
    await run_alembic("product", url)
    async with engine.connect() as conn:
        assert await conn.scalar(KEPT) == 3


async def test_upgrade_stops_with_what_to_do_when_the_role_cannot_create_pg_trgm(
    first_revision: tuple[str, AsyncEngine],
) -> None:
    url, engine = first_revision
    role, password = f"test_no_ext_{secrets.token_hex(4)}", secrets.token_hex(16)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        await conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
        for table in ("products", "reservations", "reservation_items", "alembic_version"):
            await conn.execute(text(f"ALTER TABLE {table} OWNER TO {role}"))
    role_url = make_url(url).set(username=role, password=password)
    try:
        with pytest.raises(RuntimeError, match="CREATE EXTENSION IF NOT EXISTS pg_trgm"):
            await run_alembic("product", role_url.render_as_string(hide_password=False))

        async with engine.connect() as conn:
            assert await conn.scalar(REVISION) == FIRST
            assert await conn.scalar(HAS_TRGM) is None
        assert "product_count" not in await table_names(engine)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP OWNED BY {role} CASCADE"))
        await engine.dispose()
        admin = create_async_engine(make_url(url).set(database="postgres"))
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP ROLE {role}"))
        await admin.dispose()


async def set_price(engine: AsyncEngine, price: int) -> str:
    async with engine.begin() as conn:
        return str(
            await conn.scalar(
                text(
                    "INSERT INTO products (id, creator_id, name, price) "
                    "VALUES (gen_random_uuid(), :creator, 'Yacht ' || gen_random_uuid(), :price) "
                    "RETURNING id"
                ),
                {"creator": ADA.id, "price": price},
            )
        )


async def test_upgrade_stops_naming_the_products_priced_above_the_maximum() -> None:
    async with temporary_database("product_price_bound") as url:
        engine = create_async_engine(url)
        try:
            await run_alembic("product", url, BEFORE_PRICE_BOUND)
            over = await set_price(engine, 180_143_985_095)
            await set_price(engine, 180_143_985_094)

            with pytest.raises(RuntimeError, match=over):
                await run_alembic("product", url)

            async with engine.connect() as conn:
                assert await conn.scalar(REVISION) == BEFORE_PRICE_BOUND
        finally:
            await engine.dispose()


async def test_the_database_refuses_a_price_above_the_maximum() -> None:
    async with temporary_database("product_price_check", "product") as url:
        engine = create_async_engine(url)
        try:
            await set_price(engine, 180_143_985_094)
            with pytest.raises(sa.exc.IntegrityError, match="ck_products_price_at_most_maximum"):
                await set_price(engine, 180_143_985_095)
        finally:
            await engine.dispose()


async def index_options(engine: AsyncEngine) -> dict[str, list[str] | None]:
    async with engine.connect() as conn:
        return {row.relname: row.reloptions for row in await conn.execute(INDEX_OPTIONS)}


async def test_upgrade_turns_off_the_trigram_pending_list_keeping_what_it_held() -> None:
    async with temporary_database("product_pending_list") as url:
        engine = create_async_engine(url)
        try:
            await run_alembic("product", url, BEFORE_NO_PENDING_LIST)
            await insert_products(engine, 3)  # their trigrams wait in the pending list

            await run_alembic("product", url)
            assert await index_options(engine) == dict.fromkeys(TRIGRAM_INDEXES, ["fastupdate=off"])
            async with engine.connect() as conn:
                assert await conn.scalar(FOUND) == 3
            await run_alembic("product", url, BEFORE_NO_PENDING_LIST, downgrade=True)
            assert await index_options(engine) == dict.fromkeys(TRIGRAM_INDEXES)
        finally:
            await engine.dispose()


def test_the_code_names_every_migration_for_readiness() -> None:
    # /ready compares the database's revision with these (shop_common.health)
    assert script_revisions("product") == SCHEMA_REVISIONS
