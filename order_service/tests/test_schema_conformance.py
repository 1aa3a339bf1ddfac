"""The published schema tells the truth about the order service: a quantity written `2.0`
is that integer, and the body forms the schema allows are the ones accepted."""

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from .conftest import place, stored_order
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


async def test_a_quantity_written_with_a_zero_fraction_is_that_integer(
    client: httpx.AsyncClient, db: AsyncSession, products: FakeProducts, ada: User
) -> None:
    lamp = products.add()
    response = await place(client, ada[1], lamp, 2.0)
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["items"][0]["quantity"] == 2
    stored = await stored_order(db, uuid.UUID(order["id"]))
    assert [item.quantity for item in stored.items] == [2]


def test_the_schema_allows_exactly_the_two_body_forms(app: FastAPI) -> None:
    schema = app.openapi()["components"]["schemas"]["OrderCreate"]
    single, lines = schema["anyOf"]
    assert single["required"] == ["product_id"]
    assert lines["required"] == ["items"]
    assert lines["properties"]["quantity"] is False


async def test_each_form_the_schema_allows_is_accepted_with_the_other_form_null(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = str(products.add())
    for body in (
        {"product_id": lamp, "items": None},
        {"items": [{"product_id": lamp, "quantity": 1}], "product_id": None},
    ):
        response = await client.post("/api/v1/order/", json=body, headers=ada[1])
        assert response.status_code == 201, (body, response.text)
