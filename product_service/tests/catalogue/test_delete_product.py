"""DELETE /api/v1/product/{id}/: creator only."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from ..conftest import BOB_TOKEN, bearer, create_product, stored_product


async def test_delete_removes_the_product(client: httpx.AsyncClient, db: AsyncSession) -> None:
    product = await create_product(client)

    response = await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer())

    assert response.status_code == 200
    assert response.json() == {"message": "Product deleted successfully"}
    assert await stored_product(db, product["id"]) is None
    assert (await client.get(f"/api/v1/product/{product['id']}/")).status_code == 404


async def test_delete_by_someone_else_is_403_and_keeps_the_product(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client)

    response = await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer(BOB_TOKEN))

    assert response.status_code == 403
    assert response.json()["code"] == "not_product_owner"
    assert await stored_product(db, product["id"]) is not None


async def test_delete_of_an_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"/api/v1/product/{uuid.uuid4()}/", headers=bearer())

    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


async def test_delete_twice_is_404_the_second_time(client: httpx.AsyncClient) -> None:
    product = await create_product(client)
    await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer())

    response = await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer())

    assert response.status_code == 404


async def test_delete_with_a_stale_etag_is_412_and_keeps_the_product(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    product = await create_product(client)
    stale = f'"{product["id"]}-1"'
    await client.patch(f"/api/v1/product/{product['id']}/", json={"price": 2}, headers=bearer())

    response = await client.delete(
        f"/api/v1/product/{product['id']}/", headers={**bearer(), "If-Match": stale}
    )

    assert response.status_code == 412
    assert await stored_product(db, product["id"]) is not None


async def test_delete_requires_a_token(client: httpx.AsyncClient, db: AsyncSession) -> None:
    product = await create_product(client)

    response = await client.delete(f"/api/v1/product/{product['id']}/")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await stored_product(db, product["id"]) is not None
