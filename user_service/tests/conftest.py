"""Fixtures of the user-service tests: a migrated database per run, a clean slate per test."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shop_common.testing.plugin import ServiceSpec
from shop_common.testing.secrets import strong_secret
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import Base

INTERNAL_SECRET = strong_secret("user-internal")
PREVIOUS_SECRET = strong_secret("user-previous")
JWT_SECRET = strong_secret("user-jwt")
PASSWORD = "Str0ng!Passw0rd"


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    return ServiceSpec("user", Base.metadata)


@pytest.fixture
def make_settings(base_settings: dict[str, Any]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            **base_settings,
            "secret": INTERNAL_SECRET,
            "secret_previous": PREVIOUS_SECRET,
            "jwt_secret": JWT_SECRET,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


async def register(
    client: httpx.AsyncClient,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    name: str = "Ada",
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/register/", json={"email": email, "password": password, "name": name}
    )
    assert response.status_code == 201, response.text
    tokens: dict[str, str] = response.json()["data"]
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
