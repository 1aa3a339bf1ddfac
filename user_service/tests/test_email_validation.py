"""Email inputs are checked with email-validator (no DNS), not a loose pattern."""

import httpx
import pytest

from .conftest import PASSWORD, bearer, register

INVALID = [
    "ada\u200b@example.com",  # zero-width space
    "ada\x07@example.com",  # control character
    "ada\x00@example.com",
    "ada..lovelace@example.com",
    "ada@exa_mple.com",
    "ada@-example.com",
    "ada@example..com",
    '"ada@example.com',
]


@pytest.mark.parametrize("email", INVALID)
async def test_register_refuses_an_invalid_email_with_422_on_email(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post("/api/v1/register/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [d["loc"] for d in body["details"]] == [["body", "email"]]


@pytest.mark.parametrize("email", INVALID)
async def test_login_refuses_an_invalid_email_with_422_on_email(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post("/api/v1/login/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "email"]]


@pytest.mark.parametrize("email", INVALID)
async def test_profile_update_refuses_an_invalid_email_with_422_on_email(
    client: httpx.AsyncClient, email: str
) -> None:
    tokens = await register(client)
    response = await client.patch(
        "/api/v1/profile/", json={"email": email}, headers=bearer(tokens["access"])
    )
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["body", "email"]]


async def test_a_valid_email_is_still_trimmed_lower_cased_and_capped(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client, email="  Ada.Lovelace+shop@Example.COM ")
    profile = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert profile.json()["data"]["email"] == "ada.lovelace+shop@example.com"
    too_long = await client.post(
        "/api/v1/register/",
        json={"email": "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com", "password": PASSWORD},
    )
    assert too_long.status_code == 422
    assert too_long.json()["details"][0]["loc"] == ["body", "email"]
