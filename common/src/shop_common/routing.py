"""`ShopRouter`: an APIRouter that serves each path with and without a trailing slash.

The contract wants both forms answered directly (no redirect), and the OpenAPI schema
lists only the slash form.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

__all__ = ["ShopRouter"]


class ShopRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        bare = path.rstrip("/")
        super().add_api_route(bare + "/", endpoint, **kwargs)
        if bare:
            hidden = {**kwargs, "include_in_schema": False}
            if hidden.get("operation_id"):
                hidden["operation_id"] = f"{hidden['operation_id']}_noslash"
            super().add_api_route(bare, endpoint, **hidden)
