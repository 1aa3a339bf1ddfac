"""How many SQL statements one reserve and one release send (issue 12): every statement is a
round trip holding product row locks, so the count is what limits orders per second."""

import uuid

import httpx
from fastapi import FastAPI

from ..conftest import create_product
from .helpers import release, reserve, statements_sent


async def test_a_reserve_of_three_products_sends_two_statements(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    products = [await create_product(client, stock=5) for _ in range(3)]

    with statements_sent(app) as sent:
        response = await reserve(client, uuid.uuid4(), [(p["id"], 1) for p in products])

    assert response.status_code == 200
    # The claim of the order, then one statement that locks, checks, takes and records.
    assert sent == ["INSERT", "WITH"]


async def test_a_short_reserve_sends_two_statements_too(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lamp = await create_product(client, stock=1)

    with statements_sent(app) as sent:
        response = await reserve(client, uuid.uuid4(), [(lamp["id"], 2)])

    assert response.status_code == 409
    assert response.json()["details"] == [
        {"product_id": lamp["id"], "requested": 2, "available": 1}
    ]
    assert sent == ["INSERT", "WITH"]  # the details come from the same statement


async def test_a_release_sends_three_statements(client: httpx.AsyncClient, app: FastAPI) -> None:
    products = [await create_product(client, stock=5) for _ in range(3)]
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(p["id"], 1) for p in products])

    with statements_sent(app) as sent:
        response = await release(client, order_id)

    assert response.json()["data"]["released"] is True
    # The claim, the mark of the reservation, one statement giving every item back.
    assert sent == ["INSERT", "UPDATE", "UPDATE"]
