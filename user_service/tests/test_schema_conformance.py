"""The published schema tells the truth about the user service: what it allows is
accepted, the errors it lists are the ones given, and a 405 names the path's methods."""

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from user_service.passwords import password_problems
from user_service.schemas import PASSWORD_PATTERN

from .conftest import bearer, register

# A local part no password of the schema can contain (passwords have at most 128 characters).
EMAIL = f"{'q' * 64}@example.com"


def _operation(app: FastAPI, path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = app.openapi()["paths"][path][method]
    return operation


def _body_schema(app: FastAPI, path: str) -> dict[str, Any]:
    ref = _operation(app, path, "post")["requestBody"]["content"]["application/json"]["schema"]
    schemas = app.openapi()["components"]["schemas"]
    schema: dict[str, Any] = schemas[ref["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_a_wrong_method_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/profile/")
    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed", "code": "method_not_allowed"}
    assert response.headers["Allow"] == "DELETE, GET, PATCH"


async def test_a_wrong_method_on_the_form_without_slash_names_them_too(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/profile")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, PATCH"


def test_the_schema_states_the_password_rules(app: FastAPI) -> None:
    password = _body_schema(app, "/api/v1/register/")["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 128)
    assert password["pattern"] == PASSWORD_PATTERN


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(PASSWORD_PATTERN))
def test_every_password_the_schema_allows_passes_the_rules(password: str) -> None:
    assert password_problems(password, EMAIL) == []


async def test_a_schema_valid_password_is_accepted_by_register(client: httpx.AsyncClient) -> None:
    # Rare characters the pattern allows: a non-ASCII letter, a symbol, 128 characters.
    password = "Aa0~" + "é" * 120 + "Zz9!"
    tokens = await register(client, email=EMAIL, password=password)
    response = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert response.status_code == 200
    assert response.json()["data"]["email"] == EMAIL


def test_a_422_is_documented_with_the_error_envelope(app: FastAPI) -> None:
    responses = _operation(app, "/api/v1/register/", "post")["responses"]
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert "HTTPValidationError" not in app.openapi()["components"]["schemas"]


def test_the_errors_a_route_gives_are_documented_from_their_classes(app: FastAPI) -> None:
    responses = _operation(app, "/api/v1/change-password/", "put")["responses"]
    codes = {status: entry.get("x-error-codes") for status, entry in responses.items()}
    assert codes == {
        "200": None,
        "400": ["bad_request", "invalid_old_password"],
        "401": ["invalid_token", "not_authenticated"],
        "413": ["payload_too_large"],
        "422": ["validation_error"],
        "429": ["rate_limited"],
        "503": ["database_unavailable"],
    }
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["429"]["headers"]["Retry-After"]["required"] is True


def test_the_profile_update_needs_one_field_and_no_null(app: FastAPI) -> None:
    schema = app.openapi()["components"]["schemas"]["ProfileUpdate"]
    assert schema["minProperties"] == 1
    assert schema["properties"]["email"]["type"] == "string"
    assert schema["properties"]["email"]["format"] == "email"


@pytest.mark.parametrize("domain", ["xjmh.test", "printer.LOCAL", "10.in-addr.arpa", "a.onion"])
async def test_the_schema_leaves_out_the_special_use_domains_the_service_refuses(
    app: FastAPI, client: httpx.AsyncClient, domain: str
) -> None:
    # Found by the fuzz step: `format: email` allows `g@xjmh.test`, email-validator does not.
    email = f"ada@{domain}"
    pattern = _body_schema(app, "/api/v1/login/")["properties"]["email"]["pattern"]
    assert re.search(pattern, email) is None
    assert re.search(pattern, "ada@example.com") is not None
    response = await client.post(
        "/api/v1/login/", json={"email": email, "password": "Str0ng!Passw0rd"}
    )
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "email"]]


def test_the_password_pattern_refuses_python_whitespace_under_an_ascii_reading() -> None:
    # Found by the fuzz step: schemathesis reads `\s` as ASCII only (so do ECMA engines,
    # more or less) and sent a password with a character Python's rule calls whitespace.
    spaces = [chr(code) for code in range(0x10000) if chr(code).isspace()]
    ascii_reading = re.compile(PASSWORD_PATTERN, re.ASCII)
    assert [ch for ch in spaces if ascii_reading.search("Aa0!aaaa" + ch)] == []
    assert ascii_reading.search("Aa0!aaaaé")
