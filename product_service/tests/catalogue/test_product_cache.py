"""The product-detail cache: read-through, counted, dropped after the commit of every change,
and never a reason for a request to fail."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from product_service.catalogue.cache import LiveState, ProductCache
from product_service.config import Settings
from product_service.main import create_app
from product_service.models import Product
from shop_common.redis import JsonCache
from shop_common.testing.fixtures import app_client
from shop_contracts.testing import FakeUserService

from ..conftest import BOB_TOKEN, bearer, create_product
from ..stock.helpers import release, reserve, statements_sent


def cache_count(result: str) -> float:
    labels = {"service": "product", "cache": "product", "result": result}
    return REGISTRY.get_sample_value("cache_requests_total", labels) or 0.0


async def test_first_read_misses_and_the_next_one_hits(client: httpx.AsyncClient) -> None:
    product = await create_product(client)
    hits, misses = cache_count("hit"), cache_count("miss")

    first = await client.get(f"/api/v1/product/{product['id']}/")
    second = await client.get(f"/api/v1/product/{product['id']}/")

    assert (cache_count("miss"), cache_count("hit")) == (misses + 1, hits + 1)
    assert second.json() == first.json() == {"data": product}
    assert second.headers["ETag"] == first.headers["ETag"]


async def test_a_cached_read_is_stored_under_product_and_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    product = await create_product(client)
    await client.get(f"/api/v1/product/{product['id']}/")

    key = f"{app.state.settings.redis_prefix}product:{product['id']}"
    assert await app.state.redis.exists(key) == 1


async def test_a_read_after_an_update_returns_the_new_data(client: httpx.AsyncClient) -> None:
    product = await create_product(client, price=100)
    await client.get(f"/api/v1/product/{product['id']}/")  # now cached

    await client.patch(f"/api/v1/product/{product['id']}/", json={"price": 7}, headers=bearer())
    response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.json()["data"]["price"] == 7
    assert response.headers["ETag"] == f'"{product["id"]}-2"'


async def test_a_read_after_a_delete_is_404(client: httpx.AsyncClient) -> None:
    product = await create_product(client)
    await client.get(f"/api/v1/product/{product['id']}/")

    await client.delete(f"/api/v1/product/{product['id']}/", headers=bearer())

    assert (await client.get(f"/api/v1/product/{product['id']}/")).status_code == 404


async def test_a_read_after_a_reserve_shows_the_stock_left(client: httpx.AsyncClient) -> None:
    product = await create_product(client, stock=5)
    await client.get(f"/api/v1/product/{product['id']}/")

    await reserve(client, uuid.uuid4(), [(product["id"], 2)])

    assert (await client.get(f"/api/v1/product/{product['id']}/")).json()["data"]["stock"] == 3


async def test_the_entry_is_dropped_again_after_the_commit(
    client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader refilling the entry while the update is uncommitted is undone at commit."""
    product = await create_product(client, price=100)
    price = select(Product.price).where(Product.id == uuid.UUID(product["id"]))
    prices_seen_at_delete: list[int | None] = []
    delete = JsonCache.delete

    async def observing_delete(self: JsonCache, key: str) -> bool:
        async with engine.connect() as conn:  # another connection: sees committed data only
            prices_seen_at_delete.append(await conn.scalar(price))
        return await delete(self, key)

    monkeypatch.setattr(JsonCache, "delete", observing_delete)
    await client.patch(f"/api/v1/product/{product['id']}/", json={"price": 7}, headers=bearer())

    assert prices_seen_at_delete == [100, 7]  # before the change, then after its commit


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("PATCH", bearer(BOB_TOKEN), 403),
        ("DELETE", bearer(BOB_TOKEN), 403),
        ("PATCH", {**bearer(), "If-Match": '"stale"'}, 412),
        ("DELETE", {**bearer(), "If-Match": '"stale"'}, 412),
    ],
)
async def test_a_refused_write_leaves_the_entry_in_place(
    client: httpx.AsyncClient, app: FastAPI, method: str, headers: dict[str, str], status: int
) -> None:
    product = await create_product(client, price=100)
    await client.get(f"/api/v1/product/{product['id']}/")  # now cached
    key = f"{app.state.settings.redis_prefix}product:{product['id']}"
    cached = await app.state.redis.get(key)

    response = await client.request(
        method, f"/api/v1/product/{product['id']}/", json={"price": 7}, headers=headers
    )

    assert response.status_code == status
    assert await app.state.redis.get(key) == cached is not None
    assert (await client.get(f"/api/v1/product/{product['id']}/")).json() == {"data": product}


async def test_reads_and_writes_work_with_redis_down(
    make_settings: Callable[..., Settings], user_service: FakeUserService
) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, user_transport=httpx.MockTransport(user_service))
    errors = cache_count("error")

    async with app_client(app) as client:
        product = await create_product(client, price=100)
        await client.patch(f"/api/v1/product/{product['id']}/", json={"price": 5}, headers=bearer())
        response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.status_code == 200
    assert response.json()["data"]["price"] == 5
    assert cache_count("error") > errors


async def test_a_reserve_leaves_the_entry_yet_a_read_shows_its_stock_and_etag(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: orders do not churn the cache, and read-your-writes still holds."""
    product = await create_product(client, stock=5)
    first = await client.get(f"/api/v1/product/{product['id']}/")
    key = f"{app.state.settings.redis_prefix}product:{product['id']}"
    entry = await app.state.redis.get(key)
    deleted: list[str] = []

    async def recording_delete(self: JsonCache, key: str) -> bool:
        deleted.append(key)
        return True

    monkeypatch.setattr(JsonCache, "delete", recording_delete)
    await reserve(client, uuid.uuid4(), [(product["id"], 2)])
    hits = cache_count("hit")
    after = await client.get(f"/api/v1/product/{product['id']}/")

    assert deleted == []
    assert await app.state.redis.get(key) == entry
    assert cache_count("hit") == hits + 1
    data = after.json()["data"]
    assert data == {**first.json()["data"], "stock": 3, "modified_at": data["modified_at"]}
    assert data["modified_at"] > first.json()["data"]["modified_at"]
    assert after.headers["ETag"] == f'"{product["id"]}-2"' != first.headers["ETag"]


async def test_a_release_leaves_the_entry_yet_a_read_shows_the_stock_back(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    product = await create_product(client, stock=5)
    order_id = uuid.uuid4()
    await reserve(client, order_id, [(product["id"], 2)])
    await client.get(f"/api/v1/product/{product['id']}/")
    key = f"{app.state.settings.redis_prefix}product:{product['id']}"
    entry = await app.state.redis.get(key)

    await release(client, order_id)
    after = await client.get(f"/api/v1/product/{product['id']}/")

    assert await app.state.redis.get(key) == entry
    assert after.json()["data"]["stock"] == 5
    assert after.headers["ETag"] == f'"{product["id"]}-3"'


async def test_a_cached_read_sends_no_sql(client: httpx.AsyncClient, app: FastAPI) -> None:
    product = await create_product(client)
    await client.get(f"/api/v1/product/{product['id']}/")

    with statements_sent(app) as sent:
        response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.json() == {"data": product}
    assert sent == []


async def test_a_creators_rename_shows_at_once_with_its_etag(client: httpx.AsyncClient) -> None:
    product = await create_product(client, name="Lamp")
    await client.get(f"/api/v1/product/{product['id']}/")

    patched = await client.patch(
        f"/api/v1/product/{product['id']}/", json={"name": "Desk lamp"}, headers=bearer()
    )
    response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.json()["data"] == patched.json()["data"]
    assert response.json()["data"]["name"] == "Desk lamp"
    assert response.headers["ETag"] == patched.headers["ETag"] == f'"{product["id"]}-2"'


async def test_an_entry_of_an_older_shape_is_a_miss(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """An entry with stock in it (the release before issue 12) is never served."""
    product = await create_product(client, stock=5)
    key = f"{app.state.settings.redis_prefix}product:{product['id']}"
    stale = {"product": {**product, "stock": 99}, "version": 1}
    await app.state.redis.set(key, json.dumps(stale))

    response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.json()["data"]["stock"] == 5
    assert "static" in json.loads(await app.state.redis.get(key))


async def test_without_the_live_part_a_read_takes_it_by_primary_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    product = await create_product(client, stock=5)
    await client.get(f"/api/v1/product/{product['id']}/")
    await app.state.redis.delete(f"{app.state.settings.redis_prefix}product-live:{product['id']}")

    with statements_sent(app) as sent:
        response = await client.get(f"/api/v1/product/{product['id']}/")

    assert response.json() == {"data": product}
    assert response.headers["ETag"] == f'"{product["id"]}-1"'
    assert sent == ["SELECT"]
    assert (await client.get(f"/api/v1/product/{product['id']}/")).json() == {"data": product}


async def test_an_older_state_never_replaces_a_newer_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Two orders may record in the other order than they committed; a reader may record
    what it read before a later commit: the higher version stays."""
    cache: ProductCache = app.state.product_cache
    product_id = uuid.uuid4()
    now = datetime.now(UTC)
    newer, older = LiveState(product_id, 3, 1, now), LiveState(product_id, 2, 2, now)

    await cache.record_now([newer])
    await cache.record_now([older])

    assert (await cache.get(product_id))[1] == newer
