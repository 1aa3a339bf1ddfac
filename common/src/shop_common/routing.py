"""What routes share: `ShopRouter`, path and query parameters, and OpenAPI error entries.

`ShopRouter` is an APIRouter that serves each path with and without a trailing slash: the
contract wants both forms answered directly (no redirect), and the OpenAPI schema lists
only the slash form.

Errors are documented from their classes: a route names the `AppError` classes it can
raise (`responses=error_responses(NotFound, Conflict)`), a router the ones all its routes
can (`ShopRouter(errors=(DatabaseUnavailable, TooManyRequests))`), and every route with a
body or parameters gets those the framework gives on its own (400 a body that is not text,
413 a body too large, 422 malformed JSON or a broken rule). Each entry has the error
envelope's schema, the headers the classes carry and, as `x-error-codes`, its codes.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from shop_common.errors import AppError, PayloadTooLarge, UnreadableBody, ValidationFailed
from shop_common.schemas import ErrorResponse, Pagination

__all__ = ["IdPath", "PaginationDep", "ShopRouter", "error_responses", "pagination"]

MAX_OFFSET = 2**31 - 1  # past this a page is always empty; keeps the value a valid integer
# A resource id in a path, named `{id}` as in the contract (a malformed one is a 422).
IdPath = Annotated[uuid.UUID, Path(alias="id", description="The resource's UUID")]
ResponsesDict = dict[int | str, dict[str, Any]]
CODES_KEY = "x-error-codes"
BODY_ERRORS: tuple[type[AppError], ...] = (UnreadableBody, PayloadTooLarge, ValidationFailed)


class ShopRouter(APIRouter):
    def __init__(self, *, errors: Sequence[type[AppError]] = (), **kwargs: Any) -> None:
        """`errors`: the errors every route of this router can give (documented on each)."""
        super().__init__(**kwargs)
        self.errors = tuple(errors)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        bare = path.rstrip("/")
        self._add_documented(bare + "/", endpoint, **kwargs)
        if bare:
            hidden = {**kwargs, "include_in_schema": False}
            if hidden.get("operation_id"):
                hidden["operation_id"] = f"{hidden['operation_id']}_noslash"
            self._add_documented(bare, endpoint, **hidden)

    def _add_documented(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        route = self.routes[-1]
        if isinstance(route, APIRoute):
            implied = (*self.errors, *_implied_errors(route))
            route.responses = merge_responses(error_responses(*implied), route.responses)


def _implied_errors(route: APIRoute) -> tuple[type[AppError], ...]:
    """What the framework answers for this route before it runs: a body can be malformed,
    too large or invalid; a parameter invalid."""
    if route.body_field is not None:
        return BODY_ERRORS
    if get_flat_params(route.dependant):
        return (ValidationFailed,)
    return ()


# Dependencies are `async def`: FastAPI runs plain `def` ones in a thread pool, which costs
# a thread hand-off on every request.
async def pagination(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 10,
) -> Pagination:
    return Pagination(offset=offset, limit=limit)


PaginationDep = Annotated[Pagination, Depends(pagination)]


def error_responses(*errors: type[AppError]) -> ResponsesDict:
    """OpenAPI `responses=` entries for the errors a route can give, one per status, built
    from the classes: their descriptions and codes, the envelope schema, their headers."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        group = by_status.setdefault(error.status_code, [])
        if error not in group:
            group.append(error)
    return {status: _entry(group) for status, group in sorted(by_status.items())}


def _entry(group: Sequence[type[AppError]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model": ErrorResponse,
        "description": "\n".join(f"- `{e.code}`: {e.description}" for e in group),
        CODES_KEY: sorted({e.code for e in group}),
    }
    headers = _headers(group)
    if headers:
        entry["headers"] = headers
    return entry


def _headers(group: Iterable[type[AppError]]) -> dict[str, Any]:
    """The headers of a status's errors; one is required only when every error sends it."""
    group = list(group)
    documented: dict[str, Any] = {}
    for error in group:
        for name, (text, _) in error.response_headers.items():
            always = all(e.response_headers.get(name, ("", False))[1] for e in group)
            documented[name] = {
                "description": text,
                "required": always,
                "schema": {"type": "string"},
            }
    return documented


def merge_responses(base: Mapping[int | str, Any], extra: Mapping[int | str, Any]) -> ResponsesDict:
    """`base` with `extra` on top; two error entries of one status become one listing both."""
    merged: ResponsesDict = {key: dict(value) for key, value in base.items()}
    for key, value in extra.items():
        current = merged.get(key) or merged.get(str(key)) or merged.get(_as_int(key))
        if current is None or CODES_KEY not in current or CODES_KEY not in value:
            merged[key] = {**(current or {}), **value}
            continue
        merged.pop(str(key), None)
        merged[_as_int(key)] = _merge_entry(current, value)
    return merged


def _as_int(key: int | str) -> int | str:
    return int(key) if isinstance(key, str) and key.isdigit() else key


def _merge_entry(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    codes = sorted({*first[CODES_KEY], *second[CODES_KEY]})
    lines = first["description"].splitlines()
    lines += [line for line in second["description"].splitlines() if line not in lines]
    ours, theirs = first.get("headers", {}), second.get("headers", {})
    headers = {**theirs, **ours}
    for name, header in headers.items():
        always = ours.get(name, {}).get("required", False) and theirs.get(name, {}).get(
            "required", False
        )
        headers[name] = {**header, "required": always}
    entry = {**first, **second, CODES_KEY: codes, "description": "\n".join(lines)}
    if headers:
        entry["headers"] = headers
    return entry
