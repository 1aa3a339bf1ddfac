"""The order service has no internal route: its public schema lists none, and
`/internal/openapi.json` is still there for its callers' tooling, empty and behind the
secret; with an internal port `/metrics` moves there."""

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from shop_common.testing.fixtures import app_client
from shop_common.testing.openapi import (
    internal_paths_in,
    internal_schema_refused,
    public_and_internal_schemas,
)

from .conftest import ORDER_SECRET


async def test_the_public_schema_lists_no_internal_route(client: httpx.AsyncClient) -> None:
    public, internal = await public_and_internal_schemas(client, ORDER_SECRET)
    assert {"/api/v1/order/", "/api/v1/order/{id}/"} <= set(public["paths"])
    assert internal_paths_in(public) == set()
    assert internal["paths"] == {}


async def test_the_internal_schema_is_refused_without_the_secret(
    client: httpx.AsyncClient,
) -> None:
    assert await internal_schema_refused(client)
    assert await internal_schema_refused(client, "not-the-secret")


async def test_with_an_internal_port_metrics_answer_only_there(
    make_app: Callable[..., FastAPI],
) -> None:
    async with app_client(make_app(internal_port=9003)) as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("http://testserver:9003/metrics")).status_code == 200
        assert (await client.get("http://testserver:9003/ready")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
