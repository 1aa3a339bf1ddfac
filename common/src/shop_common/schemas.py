"""Envelope models of the contract and the base of every request body."""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "DataResponse",
    "ErrorResponse",
    "IdPath",
    "error_responses",
    "InputModel",
    "ListResponse",
    "MessageDataResponse",
    "MessageResponse",
    "Page",
    "Pagination",
    "PaginationDep",
    "pagination",
]

T = TypeVar("T")
MAX_OFFSET = 2**31 - 1  # past this a page is always empty; keeps the value a valid integer


class InputModel(BaseModel):
    """Request bodies refuse unknown fields, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL in text: refuse it here with a clear 422.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


# A resource id in a path, named `{id}` as in the contract (a malformed one is a 422).
IdPath = Annotated[uuid.UUID, Path(alias="id", description="The resource's UUID")]


class MessageResponse(BaseModel):
    message: str


class DataResponse(BaseModel, Generic[T]):
    data: T


class MessageDataResponse(BaseModel, Generic[T]):
    message: str
    data: T


class Pagination(BaseModel):
    offset: int
    limit: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """What a service's `list_*` returns: one page of items and how many match in all."""

    items: list[T]
    total: int


class ListResponse(BaseModel, Generic[T]):
    results: list[T]
    count: int
    offset: int
    limit: int

    @classmethod
    def of(cls, page: Page[T], pagination: Pagination) -> "ListResponse[T]":
        return cls(
            results=page.items,
            count=page.total,
            offset=pagination.offset,
            limit=pagination.limit,
        )


# Dependencies are `async def`: FastAPI runs plain `def` ones in a thread pool, which costs
# a thread hand-off on every request.
async def pagination(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 10,
) -> Pagination:
    return Pagination(offset=offset, limit=limit)


PaginationDep = Annotated[Pagination, Depends(pagination)]


class ErrorResponse(BaseModel):
    """The envelope of every 4xx/5xx answer."""

    message: str
    code: str
    details: list[dict[str, Any]] | None = None


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting error statuses with the error envelope."""
    return {
        status: {"model": ErrorResponse, "description": text}
        for status, text in descriptions.items()
    }
