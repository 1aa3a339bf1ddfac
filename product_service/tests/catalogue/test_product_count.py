"""The product count the triggers keep: exact after every kind of write, and what the
unfiltered list reports; filtered lists count their matches."""

import asyncio
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..conftest import ADA, bearer, create_product, product_count

KEPT = text("SELECT n FROM product_count WHERE id = 1")


async def kept_count(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        value = await conn.scalar(KEPT)
    return None if value is None else int(value)


async def insert_rows(engine: AsyncEngine, count: int) -> None:
    statement = text(
        "INSERT INTO products (id, creator_id, name, price) "
        "SELECT gen_random_uuid(), :creator, 'bulk ' || i, i FROM generate_series(1, :count) i"
    )
    async with engine.begin() as conn:
        await conn.execute(statement, {"creator": ADA.id, "count": count})


async def list_count(client: httpx.AsyncClient, **params: str | int) -> int:
    response = await client.get("/api/v1/product/", params=params)
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


async def test_creates_and_deletes_through_the_api_keep_the_count_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    products = [await create_product(client) for _ in range(3)]

    response = await client.delete(f"/api/v1/product/{products[0]['id']}/", headers=bearer())

    assert response.status_code == 200
    assert await kept_count(engine) == 2 == await product_count(db)
    assert await list_count(client) == 2


async def test_concurrent_creates_each_count_once(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    bodies = [{"name": f"concurrent {i}", "price": 100} for i in range(20)]
    responses = await asyncio.gather(
        *(client.post("/api/v1/product/", json=body, headers=bearer()) for body in bodies)
    )

    assert [r.status_code for r in responses] == [201] * 20
    assert await kept_count(engine) == 20 == await product_count(db)
    assert await list_count(client) == 20


async def test_a_refused_duplicate_create_leaves_the_count_alone(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_product(client, name="Lamp")

    response = await client.post(
        "/api/v1/product/", json={"name": "Lamp", "price": 1}, headers=bearer()
    )

    assert response.status_code == 409
    assert await kept_count(engine) == 1


async def test_statements_of_many_rows_from_any_writer_keep_the_count_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    await insert_rows(engine, 250)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM products WHERE price <= 100"))

    assert await kept_count(engine) == 150 == await product_count(db)
    assert await list_count(client) == 150


async def test_a_rolled_back_insert_is_not_counted(engine: AsyncEngine) -> None:
    await insert_rows(engine, 1)
    async with engine.connect() as conn:
        await conn.execute(
            text("INSERT INTO products (id, creator_id, name, price) VALUES (:id, :c, 'x', 1)"),
            {"id": uuid.uuid4(), "c": ADA.id},
        )
        await conn.rollback()

    assert await kept_count(engine) == 1


async def test_truncate_resets_the_count(engine: AsyncEngine, client: httpx.AsyncClient) -> None:
    await insert_rows(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE products CASCADE"))

    assert await kept_count(engine) == 0
    assert await list_count(client) == 0


async def test_the_unfiltered_list_reports_the_kept_count(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_product(client)
    async with engine.begin() as conn:  # a value no row count could give
        await conn.execute(text("UPDATE product_count SET n = 1000 WHERE id = 1"))

    assert await list_count(client) == 1000
    assert await list_count(client, min_price=0) == 1


async def test_a_page_past_the_end_still_counts_the_matches(
    client: httpx.AsyncClient,
) -> None:
    for name in ("Red lamp", "Blue lamp", "Chair"):
        await create_product(client, name=name)

    unfiltered = await client.get("/api/v1/product/", params={"offset": 10})
    filtered = await client.get("/api/v1/product/", params={"offset": 10, "q": "lamp"})

    assert unfiltered.status_code == filtered.status_code == 200
    assert unfiltered.json() == {"results": [], "count": 3, "offset": 10, "limit": 10}
    assert filtered.json() == {"results": [], "count": 2, "offset": 10, "limit": 10}


async def test_a_filter_matching_nothing_counts_zero(client: httpx.AsyncClient) -> None:
    await create_product(client, name="Lamp")

    response = await client.get("/api/v1/product/", params={"q": "sofa"})

    assert response.status_code == 200
    assert response.json() == {"results": [], "count": 0, "offset": 0, "limit": 10}
