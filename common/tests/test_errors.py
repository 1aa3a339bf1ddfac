"""One envelope for every error: `{"message", "code"[, "details"]}` with the error's status,
whether it is an AppError, a validation failure, an unknown route or a refused body."""

from collections.abc import AsyncIterator

import httpx
import pytest

from shop_common import errors
from shop_common.app import MAX_BODY_BYTES
from shop_common.errors import AppError

from .testapp import ERRORS

# status, code and message every AppError class renders by default.
EXPECTED = {
    "AppError": (500, "internal_error", "Internal server error"),
    "BadRequest": (400, "bad_request", "Bad request"),
    "UnreadableBody": (400, "bad_request", "There was an error parsing the body"),
    "Unauthorized": (401, "unauthorized", "Invalid or missing credentials"),
    "NotAuthenticated": (401, "not_authenticated", "Missing bearer token"),
    "InvalidToken": (401, "invalid_token", "Invalid or expired token"),
    "Forbidden": (403, "forbidden", "You are not allowed to do this"),
    "InvalidInternalSecret": (403, "invalid_internal_secret", "Missing or invalid internal secret"),
    "NotFound": (404, "not_found", "Not found"),
    "MethodNotAllowed": (405, "method_not_allowed", "Method Not Allowed"),
    "Conflict": (409, "conflict", "Conflict"),
    "PreconditionFailed": (412, "precondition_failed", "The resource changed since you read it"),
    "PayloadTooLarge": (413, "payload_too_large", "Request body too large"),
    "ValidationFailed": (422, "validation_error", "Request validation failed"),
    "TooManyRequests": (429, "rate_limited", "Too many requests, slow down"),
    "ServiceUnavailable": (
        503,
        "service_unavailable",
        "A service this request depends on is unavailable, try again shortly",
    ),
    "DatabaseUnavailable": (
        503,
        "database_unavailable",
        "The database is unavailable, try again shortly",
    ),
}
TOO_LARGE = {"message": "Request body over 256 KiB", "code": "payload_too_large"}


def test_every_app_error_class_is_covered() -> None:
    defined = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, AppError)
    }
    assert defined == set(ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_an_app_error_renders_its_status_and_envelope_without_details(
    client: httpx.AsyncClient, name: str
) -> None:
    status, code, message = EXPECTED[name]
    for details in ("none", "empty"):  # no details and an empty list look the same
        response = await client.get(f"/errors/{name}/", params={"details": details})
        assert response.status_code == status
        assert response.json() == {"message": message, "code": code}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_an_app_error_lists_its_details_when_it_has_some(
    client: httpx.AsyncClient, name: str
) -> None:
    status, code, message = EXPECTED[name]
    response = await client.get(f"/errors/{name}/", params={"details": "one"})
    assert response.status_code == status
    assert response.json() == {
        "message": message,
        "code": code,
        "details": [{"field": "name", "issue": "taken"}],
    }


async def test_unauthorized_carries_the_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/errors/Unauthorized/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_app_error_keeps_its_own_message_code_and_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/custom-error/")
    assert response.status_code == 409
    assert response.json() == {"message": "Email taken", "code": "email_taken"}
    assert response.headers["X-Hint"] == "use another"


async def test_a_body_failing_validation_is_422_with_a_loc_per_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/echo/", json={"name": 3, "extra": True})
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"message", "code", "details"}
    assert (body["message"], body["code"]) == ("Request validation failed", "validation_error")
    assert sorted(d["loc"] for d in body["details"]) == [
        ["body", "extra"],
        ["body", "name"],
        ["body", "quantity"],
    ]
    assert all(isinstance(d["msg"], str) and d["msg"] for d in body["details"])


async def test_a_query_parameter_out_of_range_is_422_on_the_query(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/page/", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [d["loc"] for d in response.json()["details"]] == [["query", "limit"]]


async def test_a_nul_character_in_a_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo/", json={"name": "a\x00b", "quantity": 1})
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"loc": ["body", "name"], "msg": "must not contain NUL characters"}
    ]


async def test_a_valid_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo/", json={"name": "lamp", "quantity": 2})
    assert response.status_code == 200
    assert response.json() == {"data": {"name": "lamp", "quantity": 2}}


async def test_malformed_json_is_422_at_the_offending_position(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo/", content=b'{"name": "lamp",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "message": "Request validation failed",
        "code": "validation_error",
        "details": [{"loc": ["body", 16], "msg": "JSON decode error"}],
    }


async def test_an_unknown_route_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route/")
    assert response.status_code == 404
    assert response.json() == {"message": "No route matches this path", "code": "not_found"}


async def test_a_wrong_method_is_a_405_envelope_naming_the_allowed_one(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/echo/")
    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed", "code": "method_not_allowed"}
    assert response.headers["Allow"] == "POST"


async def test_both_path_forms_are_served_without_a_redirect(client: httpx.AsyncClient) -> None:
    for path in ("/page/", "/page"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"limit": 10}


async def test_a_body_of_exactly_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/raw/", content=b"x" * MAX_BODY_BYTES)
    assert response.status_code == 200
    assert response.json() == {"bytes": MAX_BODY_BYTES}


@pytest.mark.parametrize("path", ["/raw/", "/echo/"])
async def test_a_declared_body_over_the_limit_is_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/raw/", "/echo/"])
async def test_a_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path,
        content=_chunks(MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_chunked_body_within_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/raw/", content=_chunks(MAX_BODY_BYTES))
    assert response.status_code == 200
    assert response.json() == {"bytes": MAX_BODY_BYTES}
