"""POST /internal/v1/stock/release/: gives back exactly what an order reserved, once."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from ..conftest import bearer, create_product, internal
from .helpers import lines_of, release, reservation_of, reserve, stock_of


async def test_release_gives_back_what_the_order_reserved(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    chair = await create_product(client, stock=5)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 4), (chair["id"], 5)])

    response = await release(client, order_id)

    assert response.status_code == 200
    assert response.json() == {"data": {"order_id": str(order_id), "released": True}}
    assert (await stock_of(db, lamp), await stock_of(db, chair)) == (10, 5)
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is not None


async def test_release_twice_gives_back_once(client: httpx.AsyncClient, db: AsyncSession) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 4)])
    await release(client, order_id)

    response = await release(client, order_id)

    assert response.json() == {"data": {"order_id": str(order_id), "released": False}}
    assert await stock_of(db, lamp) == 10


async def test_release_of_an_order_that_reserved_nothing_is_false(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    order_id = uuid.uuid4()

    response = await release(client, order_id)

    assert response.status_code == 200
    assert response.json() == {"data": {"order_id": str(order_id), "released": False}}
    assert await lines_of(db, order_id) == []


async def test_a_reserve_arriving_after_its_release_takes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """A reserve that timed out at the caller, then was released, may still arrive late."""
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    await release(client, order_id)

    response = await reserve(client, order_id, [(lamp["id"], 4)])

    assert response.status_code == 409
    assert response.json()["code"] == "reservation_released"
    assert await stock_of(db, lamp) == 10


async def test_release_skips_deleted_products_and_keeps_the_history(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, name="Lamp", price=100, stock=10)
    chair = await create_product(client, name="Chair", price=200, stock=10)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 1), (chair["id"], 2)])
    await client.delete(f"/api/v1/product/{lamp['id']}/", headers=bearer())

    response = await release(client, order_id)

    assert response.json()["data"]["released"] is True
    assert await stock_of(db, chair) == 10
    assert await lines_of(db, order_id) == [
        (lamp["id"], "Lamp", 100, 1),
        (chair["id"], "Chair", 200, 2),
    ]


async def test_a_reserve_replayed_after_its_product_was_deleted_keeps_its_answer(
    client: httpx.AsyncClient,
) -> None:
    lamp = await create_product(client, name="Lamp", stock=10)
    order_id = uuid.uuid4()
    first = await reserve(client, order_id, [(lamp["id"], 1)])
    await client.delete(f"/api/v1/product/{lamp['id']}/", headers=bearer())

    again = await reserve(client, order_id, [(lamp["id"], 1)])

    assert again.status_code == 200
    assert again.json() == first.json()


async def test_release_without_the_secret_is_403_and_gives_nothing_back(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 4)])

    response = await client.post("/internal/v1/stock/release/", json={"order_id": str(order_id)})

    assert response.status_code == 403
    assert await stock_of(db, lamp) == 6


async def test_release_with_a_malformed_order_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/v1/stock/release/", json={"order_id": "x"}, headers=internal()
    )

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "order_id"]]
