"""What routes share: `ShopRouter`, path and query parameters, and OpenAPI error entries.

`ShopRouter` is an APIRouter that serves each path with and without a trailing slash: the
contract wants both forms answered directly (no redirect), and the OpenAPI schema lists
only the slash form.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from shop_common.schemas import ErrorResponse, Pagination

__all__ = ["IdPath", "PaginationDep", "ShopRouter", "error_responses", "pagination"]

MAX_OFFSET = 2**31 - 1  # past this a page is always empty; keeps the value a valid integer
# A resource id in a path, named `{id}` as in the contract (a malformed one is a 422).
IdPath = Annotated[uuid.UUID, Path(alias="id", description="The resource's UUID")]


class ShopRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        bare = path.rstrip("/")
        super().add_api_route(bare + "/", endpoint, **kwargs)
        if bare:
            hidden = {**kwargs, "include_in_schema": False}
            if hidden.get("operation_id"):
                hidden["operation_id"] = f"{hidden['operation_id']}_noslash"
            super().add_api_route(bare, endpoint, **hidden)


# Dependencies are `async def`: FastAPI runs plain `def` ones in a thread pool, which costs
# a thread hand-off on every request.
async def pagination(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 10,
) -> Pagination:
    return Pagination(offset=offset, limit=limit)


PaginationDep = Annotated[Pagination, Depends(pagination)]


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting error statuses with the error envelope."""
    return {
        status: {"model": ErrorResponse, "description": text}
        for status, text in descriptions.items()
    }
