"""Envelope models of the contract and the base of every request body."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = [
    "DataResponse",
    "ErrorResponse",
    "NOT_WHITESPACE",
    "InputModel",
    "ListResponse",
    "MessageDataResponse",
    "MessageResponse",
    "Page",
    "Pagination",
    "WholeNumber",
    "partial_update_schema",
    "whole_number",
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


# One character that is neither whitespace to Python (`str.isspace`, `str.strip`) nor NUL, as
# a JSON Schema (ECMA) character class. Spelled out: an ECMA `\s`, and schemathesis's ASCII
# reading of it, are narrower than Python's, so `[^\s]` would let values the service refuses.
NOT_WHITESPACE = (
    "[^\\x00" + "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace()) + "]"
)


def whole_number(value: Any) -> Any:
    """A JSON number with no fraction (`5.0`) is the integer it writes: JSON Schema counts it
    as an integer, so a client validating against the schema may send it. `5.5`, `"5"` and
    `true` still fail the strict integer check after this."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Marks a strict integer field of a request body as taking `5.0` too (never a string or a
# bool). It goes after the field's constraints, so the schema keeps `minimum`/`maximum`:
#     Price = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE), WholeNumber]
WholeNumber = BeforeValidator(whole_number)


def partial_update_schema(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of a PATCH body whose fields are all optional and never `null`
    (`X | None = None` in Python, only to tell an absent field): the schema lists at least
    one property and drops `null` from each property's type."""
    schema["minProperties"] = 1
    for name, field in schema.get("properties", {}).items():
        options = [o for o in field.get("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1 and len(field["anyOf"]) == 2:
            rest = {k: v for k, v in field.items() if k not in ("anyOf", "default")}
            schema["properties"][name] = {**options[0], **rest}


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
    """The envelope of every 4xx/5xx answer: `details` is absent when there is nothing to
    list, never `null`."""

    message: str
    code: str
    details: list[dict[str, Any]] = Field(default_factory=list, min_length=1)
