"""Envelope models of the contract and the base of every request body."""

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict

__all__ = [
    "DataResponse",
    "ErrorResponse",
    "error_responses",
    "InputModel",
    "ListResponse",
    "MessageDataResponse",
    "MessageResponse",
    "Pagination",
    "pagination",
]

T = TypeVar("T")


class InputModel(BaseModel):
    """Request bodies refuse unknown fields, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class MessageResponse(BaseModel):
    message: str


class DataResponse(BaseModel, Generic[T]):
    data: T


class MessageDataResponse(BaseModel, Generic[T]):
    message: str
    data: T


class ListResponse(BaseModel, Generic[T]):
    results: list[T]
    count: int
    offset: int
    limit: int


class Pagination(BaseModel):
    offset: int
    limit: int


# Dependencies are `async def`: FastAPI runs plain `def` ones in a thread pool, which costs
# a thread hand-off on every request.
async def pagination(
    offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 10,
) -> Pagination:
    return Pagination(offset=offset, limit=limit)


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
