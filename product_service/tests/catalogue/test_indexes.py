"""The list queries can be served by indexes, so they stay fast on a large catalogue.

Sequential scans are switched off for each EXPLAIN: on a tiny test table the planner would
rightly prefer them; what is checked here is that an index exists that fits each query.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from product_service.catalogue import repository
from product_service.catalogue.schemas import ProductFilters


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        yield conn
        await conn.rollback()


async def plan(conn: AsyncConnection, **filters: Any) -> str:
    statement = repository.list_query(ProductFilters(**filters), offset=0, limit=10)
    compiled = statement.compile(conn.sync_engine, compile_kwargs={"literal_binds": True})
    rows = await conn.execute(text(f"EXPLAIN {compiled}"))
    return "\n".join(row[0] for row in rows)


async def test_q_uses_the_trigram_indexes_for_the_page_and_its_count(
    conn: AsyncConnection,
) -> None:
    explained = await plan(conn, q="lamp")

    # the page's scan and the count's, each on both columns
    assert explained.count("ix_products_name_trgm") == 2, explained
    assert explained.count("ix_products_description_trgm") == 2, explained


async def test_the_unfiltered_count_reads_the_kept_counter_not_the_rows(
    conn: AsyncConnection,
) -> None:
    explained = await plan(conn)

    assert "product_count" in explained
    assert "Aggregate" not in explained, explained


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("-created_at", "ix_products_created_at_id"),
        ("created_at", "ix_products_created_at_id"),
        ("price", "ix_products_price_id"),
        ("-price", "ix_products_price_id"),
        ("name", "ix_products_name_id"),
    ],
)
async def test_each_sort_walks_an_index(conn: AsyncConnection, sort: str, index: str) -> None:
    explained = await plan(conn, sort=sort)

    assert re.search(rf"Index Scan (Backward )?using {index}", explained), explained
    assert "Sort" not in explained


async def test_the_creator_filter_uses_an_index(conn: AsyncConnection) -> None:
    explained = await plan(conn, creator_id="00000000-0000-0000-0000-000000000001", sort="name")

    assert "uq_products_creator_id_name" in explained
