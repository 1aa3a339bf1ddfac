"""POST /internal/v1/product-details/: the order service reads a product with the secret."""

import uuid

import httpx
import pytest

from ..conftest import create_product, internal


async def test_details_return_the_product(client: httpx.AsyncClient) -> None:
    product = await create_product(client)

    response = await client.post(
        "/internal/v1/product-details/", json={"id": product["id"]}, headers=internal()
    )

    assert response.status_code == 200
    assert response.json() == {"data": product}


async def test_details_of_an_unknown_product_are_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/v1/product-details/", json={"id": str(uuid.uuid4())}, headers=internal()
    )

    assert response.status_code == 404
    assert response.json() == {"message": "Product not found", "code": "product_not_found"}


@pytest.mark.parametrize("headers", [{}, internal("wrong-" + "x" * 40)], ids=["none", "wrong"])
async def test_details_without_the_right_secret_are_403(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    product = await create_product(client)

    response = await client.post(
        "/internal/v1/product-details/", json={"id": product["id"]}, headers=headers
    )

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_internal_secret"


@pytest.mark.parametrize("body", [{"id": "nope"}, {}, {"id": str(uuid.uuid4()), "x": 1}])
async def test_details_refuse_an_invalid_body(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/internal/v1/product-details/", json=body, headers=internal())

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
