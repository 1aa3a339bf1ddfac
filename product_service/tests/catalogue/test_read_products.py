"""GET /api/v1/product/ and /api/v1/product/{id}/: public reads, filters, sorts and pages."""

import uuid
from typing import Any

import httpx
import pytest

from ..conftest import ADA, BOB_TOKEN, create_product


async def list_products(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/product/", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [product["name"] for product in body["results"]]


async def test_detail_is_public_and_carries_the_etag(client: httpx.AsyncClient) -> None:
    product = await create_product(client, name="Lamp")

    response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.status_code == 200
    assert response.json() == {"data": product}
    assert response.headers["ETag"] == f'"{product["id"]}-1"'


async def test_detail_is_served_without_trailing_slash(client: httpx.AsyncClient) -> None:
    product = await create_product(client)

    response = await client.get(f"/api/v1/product/{product['id']}")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == product["id"]


async def test_detail_of_an_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/product/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json() == {"message": "Product not found", "code": "product_not_found"}


async def test_detail_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/product/not-a-uuid/")

    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["path", "id"]


async def test_list_is_public_newest_first_with_the_envelope(client: httpx.AsyncClient) -> None:
    for name in ("first", "second", "third"):
        await create_product(client, name=name)

    body = await list_products(client)

    assert names(body) == ["third", "second", "first"]
    assert (body["count"], body["offset"], body["limit"]) == (3, 0, 10)
    assert set(body["results"][0]) == {
        "id",
        "creator_id",
        "name",
        "description",
        "price",
        "stock",
        "created_at",
        "modified_at",
    }


async def test_list_of_an_empty_catalogue(client: httpx.AsyncClient) -> None:
    assert await list_products(client) == {"results": [], "count": 0, "offset": 0, "limit": 10}


async def test_list_pages_with_offset_and_limit_and_counts_all_matches(
    client: httpx.AsyncClient,
) -> None:
    for i in range(5):
        await create_product(client, name=f"p{i}")

    body = await list_products(client, offset=1, limit=2, sort="name")

    assert names(body) == ["p1", "p2"]
    assert (body["count"], body["offset"], body["limit"]) == (5, 1, 2)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 101}, ["query", "limit"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"sort": "stock"}, ["query", "sort"]),
        ({"min_price": -1}, ["query", "min_price"]),
        ({"min_price": 5, "max_price": 4}, ["query", "max_price"]),
        ({"in_stock": "maybe"}, ["query", "in_stock"]),
        ({"creator_id": "ada"}, ["query", "creator_id"]),
        ({"q": "a\x00b"}, ["query", "q"]),
        ({"offset": 2**31}, ["query", "offset"]),
    ],
)
async def test_list_refuses_invalid_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    response = await client.get("/api/v1/product/", params=params)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [detail["loc"] for detail in response.json()["details"]] == [loc]


async def test_list_accepts_the_largest_limit(client: httpx.AsyncClient) -> None:
    assert (await list_products(client, limit=100))["limit"] == 100


async def test_list_q_matches_name_or_description_ignoring_case(
    client: httpx.AsyncClient,
) -> None:
    await create_product(client, name="Red Lamp")
    await create_product(client, name="Chair", description="goes well with a LAMP")
    await create_product(client, name="Table")

    body = await list_products(client, q="lamp", sort="name")

    assert names(body) == ["Chair", "Red Lamp"]
    assert body["count"] == 2


async def test_list_q_treats_like_wildcards_literally(client: httpx.AsyncClient) -> None:
    await create_product(client, name="100% cotton")
    await create_product(client, name="1000 cotton")
    await create_product(client, name="a_b")
    await create_product(client, name="axb")

    assert names(await list_products(client, q="0%")) == ["100% cotton"]
    assert names(await list_products(client, q="a_b")) == ["a_b"]


async def test_list_filters_by_price_range_inclusive(client: httpx.AsyncClient) -> None:
    for price in (100, 200, 300, 400):
        await create_product(client, name=f"p{price}", price=price)

    body = await list_products(client, min_price=200, max_price=300, sort="price")

    assert names(body) == ["p200", "p300"]
    assert body["count"] == 2


@pytest.mark.parametrize(("in_stock", "expected"), [("true", ["full"]), ("false", ["empty"])])
async def test_list_filters_by_stock(
    client: httpx.AsyncClient, in_stock: str, expected: list[str]
) -> None:
    await create_product(client, name="full", stock=3)
    await create_product(client, name="empty", stock=0)

    assert names(await list_products(client, in_stock=in_stock)) == expected


async def test_list_filters_by_creator(client: httpx.AsyncClient) -> None:
    await create_product(client, name="ada's")
    await create_product(client, token=BOB_TOKEN, name="bob's")

    body = await list_products(client, creator_id=str(ADA.id))

    assert names(body) == ["ada's"]
    assert body["count"] == 1


async def test_list_combines_filters(client: httpx.AsyncClient) -> None:
    await create_product(client, name="cheap lamp", price=10, stock=1)
    await create_product(client, name="dear lamp", price=1000, stock=1)
    await create_product(client, name="cheap empty lamp", price=10, stock=0)
    await create_product(client, token=BOB_TOKEN, name="bob's cheap lamp", price=10, stock=1)

    body = await list_products(
        client, q="lamp", max_price=100, in_stock="true", creator_id=str(ADA.id)
    )

    assert names(body) == ["cheap lamp"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["b", "c", "a"]),
        ("-price", ["a", "c", "b"]),
        ("name", ["a", "b", "c"]),
        ("created_at", ["c", "a", "b"]),
        ("-created_at", ["b", "a", "c"]),
    ],
)
async def test_list_sorts(client: httpx.AsyncClient, sort: str, expected: list[str]) -> None:
    await create_product(client, name="c", price=200)
    await create_product(client, name="a", price=300)
    await create_product(client, name="b", price=100)

    assert names(await list_products(client, sort=sort)) == expected


async def test_list_breaks_ties_by_id_so_pages_never_overlap(client: httpx.AsyncClient) -> None:
    created = [await create_product(client, price=500) for _ in range(6)]

    pages = [await list_products(client, sort="price", offset=o, limit=2) for o in (0, 2, 4)]

    ids = [p["id"] for page in pages for p in page["results"]]
    assert ids == sorted(p["id"] for p in created)
