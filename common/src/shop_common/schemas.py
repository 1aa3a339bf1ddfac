"""Envelope models of the contract and the base of every request body."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "DataResponse",
    "ErrorResponse",
    "InputModel",
    "ListResponse",
    "MessageDataResponse",
    "MessageResponse",
    "Page",
    "Pagination",
]

T = TypeVar("T")


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


class ErrorResponse(BaseModel):
    """The envelope of every 4xx/5xx answer."""

    message: str
    code: str
    details: list[dict[str, Any]] | None = None
