"""Profile read/update/delete and change of password."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import RefreshToken, User

from .conftest import INTERNAL_SECRET, PASSWORD, bearer, register

PROFILE = "/api/v1/profile/"
CHANGE = "/api/v1/change-password/"
NEW_PASSWORD = "N3w!Password"


async def test_profile_shows_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.get(PROFILE, headers=bearer(tokens["access"]))
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {"id", "email", "name", "created_at", "modified_at"}
    assert data["email"] == "ada@example.com"
    assert data["created_at"].endswith(("Z", "+00:00"))
    assert "argon2" not in response.text


async def test_the_profile_is_one_statement_outside_any_transaction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await register(client)
    engine = app.state.db.engine.sync_engine
    statements: list[tuple[str, bool]] = []

    def after_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        in_transaction = conn.connection.driver_connection.is_in_transaction()
        statements.append((statement.split()[0], in_transaction))

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        response = await client.get(PROFILE, headers=bearer(tokens["access"]))
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
    assert response.status_code == 200
    assert response.json()["data"]["email"] == "ada@example.com"
    assert statements == [("SELECT", False)]


async def test_profile_without_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get(PROFILE)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert set(response.json()) == {"message", "code"}


async def test_patch_profile_updates_name_and_email(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    before = (await client.get(PROFILE, headers=bearer(tokens["access"]))).json()["data"]
    response = await client.patch(
        PROFILE,
        json={"name": "Ada L.", "email": "Lovelace@Example.com"},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["message"] == "Profile updated successfully"
    assert (data["name"], data["email"]) == ("Ada L.", "lovelace@example.com")
    assert data["modified_at"] > before["modified_at"]
    user = (await db.execute(select(User))).scalar_one()
    assert (user.name, user.email) == ("Ada L.", "lovelace@example.com")


async def test_patch_profile_to_a_taken_email_is_409(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await register(client, "bob@example.com")
    tokens = await register(client, "ada@example.com")
    response = await client.patch(
        PROFILE, json={"email": "bob@example.com"}, headers=bearer(tokens["access"])
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    emails = set((await db.execute(select(User.email))).scalars())
    assert emails == {"ada@example.com", "bob@example.com"}


async def test_patch_profile_with_nothing_to_update_is_422_on_body(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    response = await client.patch(PROFILE, json={}, headers=bearer(tokens["access"]))
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["body"]


async def test_patch_profile_refuses_mass_assignment_of_id(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    response = await client.patch(
        PROFILE,
        json={"id": "00000000-0000-0000-0000-000000000001", "name": "X"},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["body", "id"]
    assert (await db.execute(select(User.name))).scalar_one() == "Ada"


async def test_delete_profile_removes_the_user_and_every_token_stops_working(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    response = await client.delete(PROFILE, headers=bearer(tokens["access"]))
    assert response.status_code == 200
    assert response.json() == {"message": "Profile deleted successfully"}
    assert (await client.get(PROFILE, headers=bearer(tokens["access"]))).status_code == 401
    refresh = await client.post("/api/v1/refresh-token/", json={"refresh_token": tokens["refresh"]})
    assert refresh.status_code == 401
    internal = await client.post(
        "/internal/v1/token/",
        json={"token": tokens["access"]},
        headers={"X-Internal-Secret": INTERNAL_SECRET},
    )
    assert internal.status_code == 401
    assert await db.scalar(select(func.count()).select_from(User)) == 0
    assert await db.scalar(select(func.count()).select_from(RefreshToken)) == 0


async def test_change_password_revokes_earlier_tokens_and_takes_the_new_password(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    hash_before = (await db.execute(select(User.password_hash))).scalar_one()
    response = await client.put(
        CHANGE,
        json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Password changed successfully"}
    db.expire_all()
    user = (await db.execute(select(User))).scalar_one()
    assert user.password_hash != hash_before
    assert user.password_hash.startswith("$argon2")
    assert user.tokens_valid_after is not None
    refresh = await client.post("/api/v1/refresh-token/", json={"refresh_token": tokens["refresh"]})
    assert refresh.status_code == 401
    old = await client.post(
        "/api/v1/login/", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/v1/login/", json={"email": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    rows = (await db.execute(select(RefreshToken))).scalars().all()
    assert sum(1 for r in rows if r.revoked_at is None) == 1


async def test_change_password_with_wrong_old_password_is_400_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    hash_before = (await db.execute(select(User.password_hash))).scalar_one()
    response = await client.put(
        CHANGE,
        json={"old_password": "Wr0ng!Password", "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_old_password"
    db.expire_all()
    assert (await db.execute(select(User.password_hash))).scalar_one() == hash_before


async def test_change_password_to_the_same_password_is_422_on_new_password(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    response = await client.put(
        CHANGE,
        json={"old_password": PASSWORD, "new_password": PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["body", "new_password"]


async def test_change_password_checks_the_rules_on_the_new_password(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    response = await client.put(
        CHANGE,
        json={"old_password": PASSWORD, "new_password": "short"},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["details"]} == {("body", "new_password")}


async def test_change_password_ends_access_tokens_issued_before_it(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    other_session = (
        await client.post("/api/v1/login/", json={"email": "ada@example.com", "password": PASSWORD})
    ).json()["data"]
    response = await client.put(
        CHANGE,
        json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200
    for access in (tokens["access"], other_session["access"]):
        assert (await client.get(PROFILE, headers=bearer(access))).status_code == 401
    fresh = (
        await client.post(
            "/api/v1/login/", json={"email": "ada@example.com", "password": NEW_PASSWORD}
        )
    ).json()["data"]
    assert (await client.get(PROFILE, headers=bearer(fresh["access"]))).status_code == 200
