"""POST /internal/v1/stock/reserve/: all-or-nothing, idempotent per order."""

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.models import Reservation

from ..conftest import bearer, create_product, internal
from .helpers import lines_of, release, reservation_of, reserve, stock_of


async def test_reserve_takes_the_stock_and_returns_the_snapshot(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, name="Lamp", price=2500, stock=10)
    chair = await create_product(client, name="Chair", price=9900, stock=3)
    order_id = uuid.uuid4()

    response = await reserve(client, order_id, [(lamp["id"], 4), (chair["id"], 3)])

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {
            "order_id": str(order_id),
            "items": [
                {"product_id": lamp["id"], "name": "Lamp", "unit_price": 2500, "quantity": 4},
                {"product_id": chair["id"], "name": "Chair", "unit_price": 9900, "quantity": 3},
            ],
        }
    }
    assert (await stock_of(db, lamp), await stock_of(db, chair)) == (6, 0)
    assert await lines_of(db, order_id) == [
        (lamp["id"], "Lamp", 2500, 4),
        (chair["id"], "Chair", 9900, 3),
    ]
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is None


async def test_reserve_merges_lines_for_the_same_product(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, name="Lamp", stock=10)
    order_id = uuid.uuid4()

    response = await reserve(client, order_id, [(lamp["id"], 2), (lamp["id"], 3)])

    assert response.status_code == 200
    assert [item["quantity"] for item in response.json()["data"]["items"]] == [5]
    assert await stock_of(db, lamp) == 5


async def test_reserve_repeated_returns_the_first_answer_and_takes_nothing_more(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=10)
    order_id = uuid.uuid4()
    first = await reserve(client, order_id, [(lamp["id"], 4)])

    again = await reserve(client, order_id, [(lamp["id"], 4)])
    other_items = await reserve(client, order_id, [(lamp["id"], 1)])

    assert again.status_code == other_items.status_code == 200
    assert again.json() == other_items.json() == first.json()
    assert await stock_of(db, lamp) == 6


async def test_reserve_keeps_the_first_snapshot_after_the_product_changes(
    client: httpx.AsyncClient,
) -> None:
    lamp = await create_product(client, name="Lamp", price=100, stock=10)
    order_id = uuid.uuid4()
    first = await reserve(client, order_id, [(lamp["id"], 1)])
    await client.patch(
        f"/api/v1/product/{lamp['id']}/", json={"name": "New", "price": 999}, headers=bearer()
    )

    again = await reserve(client, order_id, [(lamp["id"], 1)])

    assert again.json() == first.json()


async def test_reserve_short_on_stock_is_409_naming_every_short_product(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=2)
    chair = await create_product(client, stock=10)
    table = await create_product(client, stock=0)
    order_id = uuid.uuid4()

    response = await reserve(
        client, order_id, [(lamp["id"], 3), (chair["id"], 1), (table["id"], 1)]
    )

    assert response.status_code == 409
    assert response.json() == {
        "message": "Insufficient stock",
        "code": "insufficient_stock",
        "details": [
            {"product_id": lamp["id"], "requested": 3, "available": 2},
            {"product_id": table["id"], "requested": 1, "available": 0},
        ],
    }
    assert [await stock_of(db, p) for p in (lamp, chair, table)] == [2, 10, 0]
    assert await reservation_of(db, order_id) is None


async def test_reserve_checks_the_merged_quantity(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=4)

    response = await reserve(client, uuid.uuid4(), [(lamp["id"], 3), (lamp["id"], 2)])

    assert response.status_code == 409
    assert response.json()["details"] == [
        {"product_id": lamp["id"], "requested": 5, "available": 4}
    ]
    assert await stock_of(db, lamp) == 4


async def test_reserve_of_an_unknown_product_is_404_naming_it_and_takes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    unknown = str(uuid.uuid4())
    order_id = uuid.uuid4()

    response = await reserve(client, order_id, [(lamp["id"], 1), (unknown, 1)])

    assert response.status_code == 404
    assert response.json() == {
        "message": "Unknown product",
        "code": "product_not_found",
        "details": [{"product_id": unknown}],
    }
    assert await stock_of(db, lamp) == 5
    assert await reservation_of(db, order_id) is None


async def test_reserve_after_a_failure_can_succeed_for_the_same_order(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=1)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 2)])

    response = await reserve(client, order_id, [(lamp["id"], 1)])

    assert response.status_code == 200
    assert await stock_of(db, lamp) == 0


async def test_reserve_of_a_released_order_is_409_and_takes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(lamp["id"], 2)])
    await release(client, order_id)

    response = await reserve(client, order_id, [(lamp["id"], 2)])

    assert response.status_code == 409
    assert response.json()["code"] == "reservation_released"
    assert await stock_of(db, lamp) == 5


async def test_reserve_accepts_fifty_items(client: httpx.AsyncClient, db: AsyncSession) -> None:
    products = [await create_product(client, stock=1) for _ in range(50)]

    response = await reserve(client, uuid.uuid4(), [(p["id"], 1) for p in products])

    assert response.status_code == 200
    assert len(response.json()["data"]["items"]) == 50
    assert {await stock_of(db, p) for p in products} == {0}


@pytest.mark.parametrize(
    ("items", "loc"),
    [
        ([], ["body", "items"]),
        ([{"product_id": str(uuid.uuid4()), "quantity": 1}] * 51, ["body", "items"]),
        ([{"product_id": str(uuid.uuid4()), "quantity": 0}], ["body", "items", 0, "quantity"]),
        ([{"product_id": "x", "quantity": 1}], ["body", "items", 0, "product_id"]),
        ([{"product_id": str(uuid.uuid4())}], ["body", "items", 0, "quantity"]),
    ],
    ids=["no-items", "51-items", "zero-quantity", "bad-product-id", "no-quantity"],
)
async def test_reserve_refuses_an_invalid_body(
    client: httpx.AsyncClient, db: AsyncSession, items: list[object], loc: list[object]
) -> None:
    body = {"order_id": str(uuid.uuid4()), "items": items}

    response = await client.post("/internal/v1/stock/reserve/", json=body, headers=internal())

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [loc]
    count = await db.scalar(select(func.count()).select_from(Reservation))
    assert count == 0


async def test_reserve_without_the_secret_is_403_and_takes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    body = {"order_id": str(uuid.uuid4()), "items": [{"product_id": lamp["id"], "quantity": 1}]}

    response = await client.post("/internal/v1/stock/reserve/", json=body)

    assert response.status_code == 403
    assert await stock_of(db, lamp) == 5


async def test_reserve_bumps_the_etag_of_each_product(client: httpx.AsyncClient) -> None:
    lamp = await create_product(client, stock=5)

    await reserve(client, uuid.uuid4(), [(lamp["id"], 1)])

    read = await client.get(f"/api/v1/product/{lamp['id']}/")
    assert read.headers["ETag"] == f'"{lamp["id"]}-2"'


async def test_reserve_with_unknown_and_short_lines_is_404_naming_the_unknown_ones(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=2)
    chair = await create_product(client, stock=10)
    unknown = [str(uuid.uuid4()), str(uuid.uuid4())]
    order_id = uuid.uuid4()

    response = await reserve(
        client,
        order_id,
        [(unknown[0], 1), (lamp["id"], 3), (chair["id"], 1), (unknown[1], 1)],
    )

    assert response.status_code == 404
    assert response.json() == {
        "message": "Unknown products",
        "code": "product_not_found",
        "details": [{"product_id": unknown[0]}, {"product_id": unknown[1]}],
    }
    assert [await stock_of(db, p) for p in (lamp, chair)] == [2, 10]
    assert await reservation_of(db, order_id) is None
    assert await lines_of(db, order_id) == []


async def test_reserve_repeated_after_the_stock_ran_out_returns_the_first_answer(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=3)
    order_id = uuid.uuid4()
    first = await reserve(client, order_id, [(lamp["id"], 3)])

    again = await reserve(client, order_id, [(lamp["id"], 3)])

    assert again.status_code == 200
    assert again.json() == first.json()
    assert await stock_of(db, lamp) == 0
    assert len(await lines_of(db, order_id)) == 1


async def test_reserve_of_an_order_released_before_it_leaves_the_released_row_alone(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    lamp = await create_product(client, stock=5)
    order_id = uuid.uuid4()
    await release(client, order_id)

    response = await reserve(client, order_id, [(lamp["id"], 1), (str(uuid.uuid4()), 1)])

    assert response.status_code == 409
    assert response.json()["code"] == "reservation_released"
    assert await stock_of(db, lamp) == 5
    reservation = await reservation_of(db, order_id)
    assert reservation is not None
    assert reservation.released_at is not None
    assert await lines_of(db, order_id) == []
