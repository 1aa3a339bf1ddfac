"""The published schema tells the truth about the order service: a quantity it allows,
written `2.0` as JSON Schema permits, is accepted as that integer."""

import uuid

import httpx
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
