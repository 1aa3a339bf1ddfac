"""POST /api/v1/order/: both body forms, the price snapshot, validation and the saga's errors."""

import json
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Order
from shop_contracts.testing import FakeUserService

from .conftest import ORDERS, orders_by_status, place, stored_order
from .fakes import FakeProducts

User = tuple[uuid.UUID, dict[str, str]]


async def test_single_product_form_confirms_with_price_snapshot(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add("Lamp", price=2500, stock=5)
    response = await place(client, ada[1], lamp, 2)
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Order created successfully"
    order = body["data"]
    assert response.headers["Location"] == f"/api/v1/order/{order['id']}/"
    assert set(order) == {"id", "user_id", "status", "items", "total", "created_at", "modified_at"}
    assert order["status"] == "confirmed"
    assert order["user_id"] == str(ada[0])
    assert order["items"] == [
        {"product_id": str(lamp), "name": "Lamp", "unit_price": 2500, "quantity": 2}
    ]
    assert order["total"] == 5000
    assert order["created_at"].endswith(("Z", "+00:00"))
    assert products.stock(lamp) == 3
    stored = await stored_order(db, uuid.UUID(order["id"]))
    assert (stored.status, stored.total, stored.user_id) == ("confirmed", 5000, ada[0])
    assert [(i.name, i.unit_price, i.quantity) for i in stored.items] == [("Lamp", 2500, 2)]


async def test_quantity_defaults_to_one(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add(stock=5)
    response = await client.post(ORDERS, json={"product_id": str(lamp)}, headers=ada[1])
    assert response.status_code == 201
    assert response.json()["data"]["items"][0]["quantity"] == 1
    assert products.stock(lamp) == 4


async def test_items_form_merges_repeated_products_and_totals_every_line(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add("Lamp", price=2500, stock=5)
    desk = products.add("Desk", price=10000, stock=2)
    items = [
        {"product_id": str(lamp), "quantity": 1},
        {"product_id": str(desk), "quantity": 1},
        {"product_id": str(lamp), "quantity": 2},
    ]
    response = await client.post(ORDERS, json={"items": items}, headers=ada[1])
    assert response.status_code == 201
    order = response.json()["data"]
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [
        (str(lamp), 3),
        (str(desk), 1),
    ]
    assert order["total"] == 3 * 2500 + 10000
    assert (products.stock(lamp), products.stock(desk)) == (2, 1)
    assert json.loads(products.calls[-1][1].content)["items"] == [
        {"product_id": str(lamp), "quantity": 3},
        {"product_id": str(desk), "quantity": 1},
    ]
    stored = await stored_order(db, uuid.UUID(order["id"]))
    assert [(i.product_id, i.quantity, i.position) for i in stored.items] == [
        (lamp, 3, 0),
        (desk, 1, 1),
    ]


async def test_unknown_product_is_404_and_the_order_failed(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    response = await place(client, ada[1], uuid.uuid4())
    assert response.status_code == 404
    assert response.json() == {"message": "Product not found", "code": "product_not_found"}
    assert await orders_by_status(db) == {"failed": 1}


async def test_insufficient_stock_is_409_with_the_product_details(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=3)
    desk = products.add("Desk", stock=1)
    items = [{"product_id": str(lamp), "quantity": 4}, {"product_id": str(desk), "quantity": 1}]
    response = await client.post(ORDERS, json={"items": items}, headers=ada[1])
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert body["details"] == [{"product_id": str(lamp), "requested": 4, "available": 3}]
    assert (products.stock(lamp), products.stock(desk)) == (3, 1)
    assert await orders_by_status(db) == {"failed": 1}


async def test_failed_order_keeps_its_lines_without_a_price(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = products.add(stock=0)
    assert (await place(client, ada[1], lamp)).status_code == 409
    order = (await db.scalars(select(Order))).one()
    listed = (await client.get(ORDERS, headers=ada[1])).json()["results"]
    assert listed[0]["id"] == str(order.id)
    assert listed[0]["status"] == "failed"
    assert listed[0]["total"] == 0
    assert listed[0]["items"] == [
        {"product_id": str(lamp), "name": "", "unit_price": 0, "quantity": 1}
    ]


async def test_both_forms_at_once_is_422_at_body(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = str(products.add())
    response = await client.post(
        ORDERS,
        json={"product_id": lamp, "items": [{"product_id": lamp, "quantity": 1}]},
        headers=ada[1],
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [d["loc"] for d in body["details"]] == [["body"]]
    assert await orders_by_status(db) == {}
    assert products.calls == []


async def test_quantity_with_items_is_422(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = str(products.add())
    response = await client.post(
        ORDERS, json={"quantity": 2, "items": [{"product_id": lamp, "quantity": 1}]}, headers=ada[1]
    )
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body"]]


async def test_neither_form_is_422(client: httpx.AsyncClient, ada: User) -> None:
    response = await client.post(ORDERS, json={}, headers=ada[1])
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"loc": ["body"], "msg": "Give product_id (and optionally quantity), or items"}
    ]


async def test_quantity_outside_1_to_1000_is_422(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add()
    for quantity in (0, 1001, -1, "2", 2.5, True):
        response = await place(client, ada[1], lamp, quantity)
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["body", "quantity"]
    items = [{"product_id": str(lamp), "quantity": 1001}]
    response = await client.post(ORDERS, json={"items": items}, headers=ada[1])
    assert response.json()["details"][0]["loc"] == ["body", "items", 0, "quantity"]


async def test_items_must_have_1_to_50_lines(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = str(products.add())
    too_many = [{"product_id": lamp, "quantity": 1}] * 51
    for items in ([], too_many):
        response = await client.post(ORDERS, json={"items": items}, headers=ada[1])
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["body", "items"]


async def test_fifty_lines_are_accepted(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    items = [{"product_id": str(products.add(f"P{n}")), "quantity": 1} for n in range(50)]
    response = await client.post(ORDERS, json={"items": items}, headers=ada[1])
    assert response.status_code == 201
    assert len(response.json()["data"]["items"]) == 50


async def test_mass_assigned_user_id_or_status_is_422(
    client: httpx.AsyncClient, products: FakeProducts, ada: User, db: AsyncSession
) -> None:
    lamp = str(products.add())
    for extra in ({"user_id": str(uuid.uuid4())}, {"status": "confirmed"}, {"id": lamp}):
        response = await client.post(ORDERS, json={"product_id": lamp, **extra}, headers=ada[1])
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["body", next(iter(extra))]
    assert await orders_by_status(db) == {}


async def test_malformed_product_id_and_non_json_body_are_422(
    client: httpx.AsyncClient, ada: User
) -> None:
    response = await client.post(ORDERS, json={"product_id": "nope"}, headers=ada[1])
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["body", "product_id"]
    response = await client.post(
        ORDERS, content=b"{not json", headers={**ada[1], "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_create_without_a_token_is_401(
    client: httpx.AsyncClient, products: FakeProducts, db: AsyncSession
) -> None:
    response = await place(client, {}, products.add())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    assert await orders_by_status(db) == {}


async def test_create_with_an_unknown_token_is_401(
    client: httpx.AsyncClient, products: FakeProducts
) -> None:
    response = await place(client, {"Authorization": "Bearer nope"}, products.add())
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_an_over_long_bearer_token_is_401_on_the_order_list(
    client: httpx.AsyncClient, users: FakeUserService
) -> None:
    response = await client.get(ORDERS, headers={"Authorization": "Bearer " + "a" * 5000})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"message": "Invalid or expired token", "code": "invalid_token"}
    assert users.requests == []


async def test_internal_calls_carry_the_secret_and_the_request_id(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = products.add()
    response = await client.post(
        ORDERS, json={"product_id": str(lamp)}, headers={**ada[1], "X-Request-ID": "trace-42"}
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "trace-42"
    operation, request = products.calls[-1]
    assert operation == "reserve"
    assert request.headers["X-Request-ID"] == "trace-42"
    assert request.headers["X-Internal-Secret"].startswith("product-internal-")


async def test_create_is_served_without_the_trailing_slash(
    client: httpx.AsyncClient, products: FakeProducts, ada: User
) -> None:
    lamp = str(products.add())
    response = await client.post(ORDERS.rstrip("/"), json={"product_id": lamp}, headers=ada[1])
    assert response.status_code == 201
