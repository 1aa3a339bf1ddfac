"""Register and login: envelopes, validation, stored state, no account enumeration, and
failed logins limited per account and client network."""

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import RefreshToken, User

from .conftest import PASSWORD, register


async def test_register_returns_a_token_pair_and_stores_a_hashed_password(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/api/v1/register/",
        json={"email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["message"]
    assert set(body["data"]) == {"access", "refresh", "token_type"}
    assert body["data"]["token_type"] == "bearer"
    user = (await db.execute(select(User))).scalar_one()
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    stored = (await db.execute(select(RefreshToken))).scalar_one()
    assert stored.token_hash != body["data"]["refresh"]
    assert len(stored.token_hash) == 64


async def test_register_without_name_defaults_to_empty(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/register/", json={"email": "bo@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201


async def test_register_with_taken_email_is_409_whatever_the_case(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/api/v1/register/", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_register_names_every_broken_password_rule(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/api/v1/register/", json={"email": "ada@example.com", "password": "ada a"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    messages = [d["msg"] for d in body["details"]]
    assert all(d["loc"] == ["body", "password"] for d in body["details"])
    assert len(messages) == 6  # length, whitespace, upper, digit, special, local part
    assert any("local part" in m for m in messages)
    assert await db.scalar(select(func.count()).select_from(User)) == 0


async def test_register_refuses_password_containing_the_email_local_part(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/register/", json={"email": "ada@example.com", "password": "xADA!9aaaa"}
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"loc": ["body", "password"], "msg": "Password must not contain the email's local part"}
    ]


async def test_register_refuses_unknown_fields_such_as_id(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/api/v1/register/",
        json={
            "email": "ada@example.com",
            "password": PASSWORD,
            "id": "00000000-0000-0000-0000-000000000001",
        },
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["body", "id"]
    assert await db.scalar(select(func.count()).select_from(User)) == 0


async def test_register_refuses_invalid_email_and_missing_fields(
    client: httpx.AsyncClient,
) -> None:
    bad_email = await client.post(
        "/api/v1/register/", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["details"][0]["loc"] == ["body", "email"]
    too_long = await client.post(
        "/api/v1/register/", json={"email": "a" * 250 + "@ex.com", "password": PASSWORD}
    )
    assert too_long.status_code == 422
    missing = await client.post("/api/v1/register/", json={})
    assert {tuple(d["loc"]) for d in missing.json()["details"]} == {
        ("body", "email"),
        ("body", "password"),
    }


async def test_register_refuses_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/register/", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_login_returns_a_new_pair(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await register(client)
    response = await client.post(
        "/api/v1/login/", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["data"]["token_type"] == "bearer"
    assert await db.scalar(select(func.count()).select_from(RefreshToken)) == 2


async def test_login_gives_one_answer_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    wrong = await client.post(
        "/api/v1/login/", json={"email": "ada@example.com", "password": "Wr0ng!Password"}
    )
    unknown = await client.post(
        "/api/v1/login/", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"


# The test client's own address, 203.0.113.10, is the trusted proxy.
THROUGH_PROXY = {"rate_limit_login_account": "2/minute", "trusted_proxies": "203.0.113.0/24"}


def login_from(client: httpx.AsyncClient, address: str, password: str) -> Awaitable[httpx.Response]:
    body = {"email": "ada@example.com", "password": password}
    return client.post("/api/v1/login/", json=body, headers={"X-Forwarded-For": address})


@pytest.mark.parametrize(
    ("attacker", "attacker_again", "owner"),
    [
        ("198.51.100.7", "198.51.100.7", "192.0.2.8"),
        ("2001:db8:1:2::1", "2001:db8:1:2::beef", "2001:db8:1:3::1"),  # one /64, then another
    ],
)
async def test_failed_logins_throttle_their_network_while_the_owner_logs_in_from_another(
    make_settings: Callable[..., Settings],
    db: AsyncSession,
    attacker: str,
    attacker_again: str,
    owner: str,
) -> None:
    async with app_client(create_app(make_settings(**THROUGH_PROXY))) as client:
        await register(client)
        wrong = [(await login_from(client, attacker, "Wr0ng!Password")) for _ in range(3)]
        blocked = await login_from(client, attacker_again, PASSWORD)
        owners = await login_from(client, owner, PASSWORD)

    assert [r.status_code for r in wrong] == [401, 401, 429]
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) >= 1
    assert owners.status_code == 200, owners.text
    assert owners.json()["data"]["token_type"] == "bearer"
    # The registration's refresh token and the owner's: the attacker got none.
    assert await db.scalar(select(func.count()).select_from(RefreshToken)) == 2


async def test_right_passwords_do_not_count_against_the_account(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(create_app(make_settings(**THROUGH_PROXY))) as client:
        await register(client)
        codes = [(await login_from(client, "192.0.2.8", PASSWORD)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 200]


async def test_register_login_and_refresh_answers_are_never_stored_by_a_cache(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    body = {"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    registered = await client.post("/api/v1/register/", json=body)
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    logged_in = await client.post("/api/v1/login/", json=credentials)
    refresh = {"refresh_token": logged_in.json()["data"]["refresh"]}
    refreshed = await client.post("/api/v1/refresh-token/", json=refresh)
    wrong = await client.post("/api/v1/login/", json={**credentials, "password": "Wr0ng!Passw0rd"})

    for response, status in ((registered, 201), (logged_in, 200), (refreshed, 200), (wrong, 401)):
        assert response.status_code == status
        assert response.headers["Cache-Control"] == "no-store"
    assert await db.scalar(select(func.count()).select_from(RefreshToken)) == 3
