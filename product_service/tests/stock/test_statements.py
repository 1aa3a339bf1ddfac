"""How many SQL statements one reserve and one release send: every statement is a round trip
holding product row locks, so the count is what limits orders per second."""

import uuid

import httpx
from fastapi import FastAPI

from ..conftest import create_product
from .helpers import release, reserve, statements_sent


async def test_a_reserve_of_three_products_sends_one_statement(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    products = [await create_product(client, stock=5) for _ in range(3)]

    with statements_sent(app) as sent:
        response = await reserve(client, uuid.uuid4(), [(p["id"], 1) for p in products])

    assert response.status_code == 200
    # Locks, checks, claims, takes and records, with no BEGIN or COMMIT around it.
    assert sent == ["WITH"]


async def test_a_short_reserve_reads_the_order_in_a_second_statement(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lamp = await create_product(client, stock=1)

    with statements_sent(app) as sent:
        response = await reserve(client, uuid.uuid4(), [(lamp["id"], 2)])

    assert response.status_code == 409
    assert response.json()["details"] == [
        {"product_id": lamp["id"], "requested": 2, "available": 1}
    ]
    # The details come from the first; the second looks for a reservation of the same order
    # committed while the first waited (then its answer, not the refusal, is the reply).
    assert sent == ["WITH", "SELECT"]


async def test_a_release_sends_one_statement(client: httpx.AsyncClient, app: FastAPI) -> None:
    products = [await create_product(client, stock=5) for _ in range(3)]
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(p["id"], 1) for p in products])

    with statements_sent(app) as sent:
        response = await release(client, order_id)

    assert response.json()["data"]["released"] is True
    # Locks the products, marks the reservation and gives every item back.
    assert sent == ["WITH"]
