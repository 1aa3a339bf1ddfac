"""The token route is internal: absent from the public schema, described at
`/internal/openapi.json` (with the secret), and with an internal port served only there."""

from collections.abc import Callable

import httpx

from shop_common.testing.fixtures import app_client
from shop_common.testing.openapi import (
    internal_paths_in,
    internal_schema_refused,
    public_and_internal_schemas,
)
from user_service.config import Settings
from user_service.main import create_app

from .conftest import INTERNAL_SECRET, register

INTERNAL_PORT = 9001
INTERNAL = f"http://testserver:{INTERNAL_PORT}"


async def test_the_internal_routes_are_in_the_internal_schema_only(
    client: httpx.AsyncClient,
) -> None:
    public, internal = await public_and_internal_schemas(client, INTERNAL_SECRET)
    assert "/api/v1/login/" in public["paths"]
    assert internal_paths_in(public) == set()
    assert set(internal["paths"]) == {"/internal/v1/token/", "/internal/v1/account-events/"}
    body = internal["paths"]["/internal/v1/token/"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("TokenResolveRequest")
    assert "TokenResolveRequest" not in public["components"]["schemas"]


async def test_the_internal_schema_is_refused_without_the_secret(
    client: httpx.AsyncClient,
) -> None:
    assert await internal_schema_refused(client)
    assert await internal_schema_refused(client, "not-the-secret")


async def test_with_an_internal_port_tokens_resolve_only_there(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(create_app(make_settings(internal_port=INTERNAL_PORT))) as client:
        tokens = await register(client)
        body = {"token": tokens["access"]}
        headers = {"X-Internal-Secret": INTERNAL_SECRET}
        on_public = await client.post("/internal/v1/token/", json=body, headers=headers)
        assert on_public.status_code == 404
        assert on_public.json()["code"] == "not_found"
        on_internal = await client.post(
            f"{INTERNAL}/internal/v1/token/", json=body, headers=headers
        )
        assert on_internal.status_code == 200
        assert on_internal.json()["data"]["email"]
        assert (await client.get(f"{INTERNAL}/api/v1/profile/")).status_code == 404
