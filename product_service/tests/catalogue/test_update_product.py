"""PATCH /api/v1/product/{id}/: creator only, partial, guarded by If-Match."""

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from ..conftest import BOB_TOKEN, bearer, create_product, existing_product


async def patch(
    client: httpx.AsyncClient, product_id: str, body: Any, **headers: str
) -> httpx.Response:
    return await client.patch(
        f"/api/v1/product/{product_id}/", json=body, headers={**bearer(), **headers}
    )


async def test_update_changes_the_given_fields_only(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client, name="Lamp", description="old", price=100, stock=5)

    response = await patch(client, product["id"], {"price": 150, "stock": 0})

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Product updated successfully"
    data = response.json()["data"]
    assert data == {**product, "price": 150, "stock": 0, "modified_at": data["modified_at"]}
    assert datetime.fromisoformat(data["modified_at"]) > datetime.fromisoformat(
        product["modified_at"]
    )
    stored = await existing_product(db, product["id"])
    assert (stored.name, stored.description, stored.price, stored.stock) == ("Lamp", "old", 150, 0)


async def test_update_answers_with_the_new_etag_that_a_read_returns_too(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client)

    response = await patch(client, product["id"], {"name": "Renamed"})

    assert response.headers["ETag"] == f'"{product["id"]}-2"'
    read = await client.get(f"/api/v1/product/{product['id']}/")
    assert read.headers["ETag"] == response.headers["ETag"]
    stored = await existing_product(db, product["id"])
    assert stored.version == 2


async def test_update_with_the_current_etag_succeeds(client: httpx.AsyncClient) -> None:
    product = await create_product(client)
    etag = (await client.get(f"/api/v1/product/{product['id']}/")).headers["ETag"]

    response = await patch(client, product["id"], {"price": 1}, **{"If-Match": etag})

    assert response.status_code == 200
    assert response.json()["data"]["price"] == 1


@pytest.mark.parametrize("if_match", ["*", '"elsewhere", {etag}', "W/{etag}"])
async def test_update_if_match_accepts_any_matching_form(
    client: httpx.AsyncClient, if_match: str
) -> None:
    product = await create_product(client)
    etag = f'"{product["id"]}-1"'

    response = await patch(
        client, product["id"], {"price": 1}, **{"If-Match": if_match.format(etag=etag)}
    )

    assert response.status_code == 200


async def test_update_with_a_stale_etag_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client, price=100)
    stale = (await client.get(f"/api/v1/product/{product['id']}/")).headers["ETag"]
    await patch(client, product["id"], {"price": 200}, **{"If-Match": stale})

    response = await patch(client, product["id"], {"price": 300}, **{"If-Match": stale})

    assert response.status_code == 412
    assert response.json() == {
        "message": "The product changed since you read it; fetch it again and retry",
        "code": "precondition_failed",
    }
    stored = await existing_product(db, product["id"])
    assert (stored.price, stored.version) == (200, 2)


async def test_update_by_someone_else_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client, price=100)

    response = await client.patch(
        f"/api/v1/product/{product['id']}/", json={"price": 1}, headers=bearer(BOB_TOKEN)
    )

    assert response.status_code == 403
    assert response.json()["code"] == "not_product_owner"
    stored = await existing_product(db, product["id"])
    assert stored.price == 100


async def test_update_of_an_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    response = await patch(client, str(uuid.uuid4()), {"price": 1})

    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


async def test_update_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await patch(client, "123", {"price": 1})

    assert response.status_code == 422


async def test_update_with_nothing_to_update_is_422_on_the_body(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client)

    response = await patch(client, product["id"], {})

    assert response.status_code == 422
    assert response.json()["details"] == [
        {"loc": ["body"], "msg": "Provide at least one of: name, description, price, stock"}
    ]
    stored = await existing_product(db, product["id"])
    assert stored.version == 1


@pytest.mark.parametrize("field", ["creator_id", "id"])
async def test_update_refuses_mass_assignment(
    client: httpx.AsyncClient, db: AsyncSession, field: str
) -> None:
    product = await create_product(client)

    response = await patch(client, product["id"], {"name": "x", field: str(uuid.uuid4())})

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", field]]
    stored = await existing_product(db, product["id"])
    assert str(stored.id) == product["id"]
    assert str(stored.creator_id) == product["creator_id"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": None}, ["body", "name"]),
        ({"price": None}, ["body", "price"]),
        ({"price": -5}, ["body", "price"]),
        ({"stock": 1.5}, ["body", "stock"]),
        ({"name": ""}, ["body", "name"]),
    ],
)
async def test_update_names_each_invalid_field(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
) -> None:
    product = await create_product(client)

    response = await patch(client, product["id"], body)

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [loc]


async def test_update_refuses_a_price_above_the_maximum(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client, price=100)

    response = await patch(client, product["id"], {"price": 180_143_985_095})

    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "price"]]
    assert (await existing_product(db, product["id"])).price == 100


async def test_update_to_a_name_the_creator_already_uses_is_409(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await create_product(client, name="Lamp")
    other = await create_product(client, name="Chair")

    response = await patch(client, other["id"], {"name": "Lamp"})

    assert response.status_code == 409
    assert response.json()["code"] == "product_name_taken"
    stored = await existing_product(db, other["id"])
    assert stored.name == "Chair"


async def test_update_keeping_its_own_name_is_allowed(client: httpx.AsyncClient) -> None:
    product = await create_product(client, name="Lamp")

    response = await patch(client, product["id"], {"name": "Lamp", "price": 3})

    assert response.status_code == 200


async def test_update_requires_a_token(client: httpx.AsyncClient) -> None:
    product = await create_product(client)

    response = await client.patch(f"/api/v1/product/{product['id']}/", json={"price": 1})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
