"""The public schema leaves the internal routes out; `/internal/openapi.json` has only
them, behind the internal secret on a single port (403 without), free on the internal one."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shop_common.testing.fixtures import app_client

from .conftest import SECRET
from .testapp import CommonTestSettings, build_app

WITH_SECRET = {"X-Internal-Secret": SECRET}


async def internal_schema(client: httpx.AsyncClient, base: str = "") -> dict[str, Any]:
    response = await client.get(f"{base}/internal/openapi.json", headers=WITH_SECRET)
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_the_public_schema_lists_no_internal_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/echo/" in schema["paths"]
    assert "/ready/" in schema["paths"]
    assert [path for path in schema["paths"] if path.startswith("/internal/")] == []


@pytest.mark.parametrize("path", ["/internal/openapi.json", "/internal/openapi.json/"])
async def test_the_internal_schema_lists_only_internal_routes(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=WITH_SECRET)
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {"/internal/v1/ping/"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_internal_schema_documents_the_secret_header(
    client: httpx.AsyncClient,
) -> None:
    schema = await internal_schema(client)
    scheme = schema["components"]["securitySchemes"]["InternalSecret"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Internal-Secret",
        "description": scheme["description"],
    }
    assert schema["paths"]["/internal/v1/ping/"]["post"]["security"] == [{"InternalSecret": []}]


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Secret": "wrong"}])
async def test_the_internal_schema_wants_the_secret_on_a_single_port(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/internal/openapi.json", headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "message": "Missing or invalid internal secret",
        "code": "invalid_internal_secret",
    }


async def test_the_internal_port_serves_the_internal_schema_without_the_secret(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    async with app_client(build_app(make_settings(internal_port=9001))) as client:
        response = await client.get("http://testserver:9001/internal/openapi.json")
        assert response.status_code == 200
        assert set(response.json()["paths"]) == {"/internal/v1/ping/"}


async def test_docs_point_at_the_public_schema_only(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "/openapi.json" in page
    assert "/internal/" not in page
