"""The details, reserve and release routes are internal: absent from the public schema,
described at `/internal/openapi.json` (with the secret, their models from shop_contracts),
and with an internal port served only there."""

import uuid
from collections.abc import Callable

import httpx

from product_service.config import Settings
from product_service.main import create_app
from shop_common.testing.fixtures import app_client
from shop_common.testing.openapi import (
    internal_paths_in,
    internal_schema_refused,
    public_and_internal_schemas,
)
from shop_contracts.testing import FakeUserService

from .conftest import INTERNAL_SECRET, internal

INTERNAL_PATHS = {
    "/internal/v1/product-details/",
    "/internal/v1/stock/reserve/",
    "/internal/v1/stock/release/",
}


async def test_the_internal_routes_are_in_the_internal_schema_only(
    client: httpx.AsyncClient,
) -> None:
    public, internal_schema = await public_and_internal_schemas(client, INTERNAL_SECRET)
    assert {"/api/v1/product/", "/api/v1/product/{id}/"} <= set(public["paths"])
    assert internal_paths_in(public) == set()
    assert set(internal_schema["paths"]) == INTERNAL_PATHS
    assert {"ReserveRequest", "ReleaseRequest"} <= set(internal_schema["components"]["schemas"])
    assert "ReserveRequest" not in public["components"]["schemas"]


async def test_the_internal_schema_is_refused_without_the_secret(
    client: httpx.AsyncClient,
) -> None:
    assert await internal_schema_refused(client)
    assert await internal_schema_refused(client, "not-the-secret")


async def test_with_an_internal_port_release_answers_only_there(
    make_settings: Callable[..., Settings], user_service: FakeUserService
) -> None:
    app = create_app(
        make_settings(internal_port=9002), user_transport=httpx.MockTransport(user_service)
    )
    body = {"order_id": str(uuid.uuid4())}
    async with app_client(app) as client:
        on_public = await client.post("/internal/v1/stock/release/", json=body, headers=internal())
        assert on_public.status_code == 404
        on_internal = await client.post(
            "http://testserver:9002/internal/v1/stock/release/", json=body, headers=internal()
        )
        assert on_internal.status_code == 200
        assert on_internal.json() == {"data": {"order_id": body["order_id"], "released": False}}
        assert (await client.get("/api/v1/product/")).status_code == 200
        assert (await client.get("http://testserver:9002/api/v1/product/")).status_code == 404
