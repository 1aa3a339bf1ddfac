"""The published schema tells the truth about the product service: integers it allows
(up to its `maximum`, and written `5.0`) are accepted and stored."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.schemas import NOT_WHITESPACE
from shop_contracts.product import MAX_RESERVE_ITEMS

from .conftest import bearer, create_product, existing_product, internal


def _create_schema(app: FastAPI) -> dict[str, Any]:
    schema: dict[str, Any] = app.openapi()["components"]["schemas"]["ProductCreate"]
    return schema


@pytest.mark.parametrize("field", ["price", "stock"])
async def test_a_value_at_the_schema_maximum_is_accepted_and_stored(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, field: str
) -> None:
    maximum = _create_schema(app)["properties"][field]["maximum"]
    body = {"name": "Top", "price": 1, field: maximum}
    response = await client.post("/api/v1/product/", json=body, headers=bearer())
    assert response.status_code == 201, response.text
    assert response.json()["data"][field] == maximum
    stored = await existing_product(db, response.json()["data"]["id"])
    assert getattr(stored, field) == maximum


async def test_an_integer_written_with_a_zero_fraction_is_that_integer(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    # JSON Schema counts 5.0 as an integer, so a client checking its body may send it.
    body = {"name": "Lamp", "price": 5.0, "stock": 2.0}
    response = await client.post("/api/v1/product/", json=body, headers=bearer())
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["price"], data["stock"]) == (5, 2)
    stored = await existing_product(db, data["id"])
    assert (stored.price, stored.stock) == (5, 2)


@pytest.mark.parametrize("price", [5.5, "5", True])
async def test_a_fraction_a_string_or_a_bool_is_still_no_price(
    client: httpx.AsyncClient, price: object
) -> None:
    body = {"name": "Lamp", "price": price}
    response = await client.post("/api/v1/product/", json=body, headers=bearer())
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "price"]]


@pytest.mark.parametrize("schema", ["ProductCreate", "ProductUpdate"])
def test_the_published_price_maximum_keeps_every_order_total_an_exact_javascript_number(
    app: FastAPI, schema: str
) -> None:
    maximum = app.openapi()["components"]["schemas"][schema]["properties"]["price"]["maximum"]
    assert maximum == 180_143_985_094
    # An order has at most 50 lines of at most 1000 units each.
    assert maximum * MAX_RESERVE_ITEMS * 1000 <= 2**53 - 1


def test_an_update_needs_one_field_and_takes_no_null(app: FastAPI) -> None:
    schema = app.openapi()["components"]["schemas"]["ProductUpdate"]
    assert schema["minProperties"] == 1
    assert all("anyOf" not in field for field in schema["properties"].values())


def test_a_name_must_have_a_character_that_is_not_whitespace(app: FastAPI) -> None:
    assert _create_schema(app)["properties"]["name"]["pattern"] == NOT_WHITESPACE


def test_every_public_route_documents_429_and_503_and_every_body_413(app: FastAPI) -> None:
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            assert {"429", "503"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)


async def test_a_reserve_quantity_written_with_a_zero_fraction_is_that_integer(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    # Found by the fuzz step: schemathesis sends JSON Schema integers such as 3.0.
    lamp = await create_product(client, price=100, stock=10)
    body = {"order_id": str(uuid.uuid4()), "items": [{"product_id": lamp["id"], "quantity": 3.0}]}
    response = await client.post("/internal/v1/stock/reserve/", json=body, headers=internal())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["items"][0]["quantity"] == 3
    assert (await existing_product(db, lamp["id"])).stock == 7
