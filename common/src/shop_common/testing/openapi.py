"""A service's two OpenAPI documents, as its tests read them (`shop_common.openapi`)."""

from typing import Any

import httpx

from shop_common.openapi import INTERNAL_OPENAPI_PATH
from shop_common.security import INTERNAL_PREFIX, INTERNAL_SECRET_HEADER

__all__ = ["internal_paths_in", "internal_schema_refused", "public_and_internal_schemas"]


async def public_and_internal_schemas(
    client: httpx.AsyncClient, secret: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`/openapi.json`, and `/internal/openapi.json` fetched with the internal `secret`."""
    public = await client.get("/openapi.json")
    internal = await client.get(INTERNAL_OPENAPI_PATH, headers={INTERNAL_SECRET_HEADER: secret})
    assert public.status_code == 200
    assert internal.status_code == 200
    return public.json(), internal.json()


def internal_paths_in(schema: dict[str, Any]) -> set[str]:
    return {path for path in schema["paths"] if path.startswith(INTERNAL_PREFIX)}


async def internal_schema_refused(client: httpx.AsyncClient, secret: str | None = None) -> bool:
    """True when `/internal/openapi.json` asked with `secret` (or none) is the 403 of a
    missing or wrong internal secret."""
    headers = {INTERNAL_SECRET_HEADER: secret} if secret is not None else {}
    response = await client.get(INTERNAL_OPENAPI_PATH, headers=headers)
    refused = response.status_code == 403
    return refused and response.json()["code"] == "invalid_internal_secret"
