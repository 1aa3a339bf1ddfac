"""POST /api/v1/product/: the caller becomes the creator; bodies are validated strictly."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from ..conftest import ADA, BOB_TOKEN, bearer, create_product, existing_product, product_count


async def test_create_makes_the_caller_the_creator(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    body = {"name": "Lamp", "description": "A desk lamp", "price": 2599, "stock": 7}
    response = await client.post("/api/v1/product/", json=body, headers=bearer())

    assert response.status_code == 201, response.text
    payload = response.json()
    assert payload["message"] == "Product created successfully"
    data = payload["data"]
    assert {k: data[k] for k in body} == body
    assert data["creator_id"] == str(ADA.id)
    assert set(data) == {*body, "id", "creator_id", "created_at", "modified_at"}
    stored = await existing_product(db, data["id"])
    assert (stored.creator_id, stored.name, stored.price, stored.stock) == (ADA.id, "Lamp", 2599, 7)


async def test_create_answers_with_etag_and_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/product/", json={"name": "Lamp", "price": 1}, headers=bearer()
    )

    product_id = response.json()["data"]["id"]
    assert response.headers["ETag"] == f'"{product_id}-1"'
    assert response.headers["Location"] == f"/api/v1/product/{product_id}/"


async def test_create_defaults_description_and_stock(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/product/", json={"name": "Lamp", "price": 0}, headers=bearer()
    )

    assert response.status_code == 201
    assert response.json()["data"]["description"] == ""
    assert response.json()["data"]["stock"] == 0


async def test_create_timestamps_carry_a_utc_offset(client: httpx.AsyncClient) -> None:
    product = await create_product(client)

    for field in ("created_at", "modified_at"):
        assert product[field].endswith(("Z", "+00:00")), product[field]


async def test_create_is_served_without_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/product", json={"name": "Lamp", "price": 1}, headers=bearer()
    )

    assert response.status_code == 201


async def test_create_refuses_a_name_the_creator_already_uses(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await create_product(client, name="Lamp")

    response = await client.post(
        "/api/v1/product/", json={"name": "Lamp", "price": 5}, headers=bearer()
    )

    assert response.status_code == 409
    assert response.json() == {
        "message": "You already have a product with this name",
        "code": "product_name_taken",
    }
    assert await product_count(db) == 1


async def test_create_allows_a_name_another_creator_uses(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await create_product(client, name="Lamp")

    product = await create_product(client, token=BOB_TOKEN, name="Lamp")

    assert product["name"] == "Lamp"
    assert await product_count(db) == 2


@pytest.mark.parametrize("field", ["creator_id", "id", "created_at", "version"])
async def test_create_refuses_fields_outside_the_contract(
    client: httpx.AsyncClient, db: AsyncSession, field: str
) -> None:
    body = {"name": "Lamp", "price": 1, field: str(uuid.uuid4())}

    response = await client.post("/api/v1/product/", json=body, headers=bearer())

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert {"loc": ["body", field], "msg": "Extra inputs are not permitted"} in response.json()[
        "details"
    ]
    assert await product_count(db) == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"price": 1}, ["body", "name"]),
        ({"name": "", "price": 1}, ["body", "name"]),
        ({"name": "   ", "price": 1}, ["body", "name"]),
        ({"name": "x" * 101, "price": 1}, ["body", "name"]),
        ({"name": "Lamp", "description": "x" * 5001, "price": 1}, ["body", "description"]),
        ({"name": "Lamp"}, ["body", "price"]),
        ({"name": "Lamp", "price": -1}, ["body", "price"]),
        ({"name": "Lamp", "price": 9.99}, ["body", "price"]),
        ({"name": "Lamp", "price": "100"}, ["body", "price"]),
        ({"name": "Lamp", "price": 1, "stock": -1}, ["body", "stock"]),
        ({"name": "Lamp", "price": 1, "stock": 2**31}, ["body", "stock"]),
        ({"name": "Lamp", "price": 1, "stock": True}, ["body", "stock"]),
    ],
)
async def test_create_names_each_invalid_field(
    client: httpx.AsyncClient, db: AsyncSession, body: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post("/api/v1/product/", json=body, headers=bearer())

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [detail["loc"] for detail in response.json()["details"]] == [loc]
    assert await product_count(db) == 0


async def test_create_refuses_a_price_above_the_maximum(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    body = {"name": "Yacht", "price": 180_143_985_095}
    response = await client.post("/api/v1/product/", json=body, headers=bearer())

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "price"]]
    assert await product_count(db) == 0


async def test_create_accepts_the_longest_name_and_description(client: httpx.AsyncClient) -> None:
    product = await create_product(client, name="n" * 100, description="d" * 5000)

    assert len(product["name"]) == 100
    assert len(product["description"]) == 5000


async def test_create_strips_whitespace_around_the_name(client: httpx.AsyncClient) -> None:
    product = await create_product(client, name="  Lamp  ")

    assert product["name"] == "Lamp"


async def test_create_requires_a_token(client: httpx.AsyncClient, db: AsyncSession) -> None:
    response = await client.post("/api/v1/product/", json={"name": "Lamp", "price": 1})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert await product_count(db) == 0
