"""The account-event feed: what a logout, a password change and a deletion append, and how
`GET /internal/v1/account-events/` pages through it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from user_service.models import AccountEvent, User

from .conftest import INTERNAL_SECRET, PASSWORD, bearer, register

URL = "/internal/v1/account-events/"
INTERNAL = {"X-Internal-Secret": INTERNAL_SECRET}
NEW_PASSWORD = "An0ther!Passw0rd"


async def feed(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(URL, params=params, headers=INTERNAL)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def claims(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


async def logout(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/logout/",
        json={"refresh_token": tokens["refresh"]},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200, response.text


async def change_password(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.put(
        "/api/v1/change-password/",
        json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200, response.text


async def test_a_logout_appends_an_event_naming_the_access_token(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    await logout(client, tokens)
    [event] = await feed(client)
    access = claims(tokens["access"])
    assert event["type"] == "logout"
    assert event["user_id"] == access["sub"]
    assert event["token_id"] == access["jti"]
    assert event["generation"] is None
    stored = (await db.execute(select(AccountEvent))).scalar_one()
    assert stored.seq == event["seq"]
    assert str(stored.token_id) == access["jti"]


async def test_a_password_change_appends_an_event_with_the_new_generation(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    await change_password(client, tokens)
    [event] = await feed(client)
    user = (await db.execute(select(User))).scalar_one()
    assert event["type"] == "password_changed"
    assert event["user_id"] == str(user.id)
    assert event["generation"] == user.token_generation == 1
    assert event["token_id"] is None


async def test_a_deletion_appends_an_event_that_outlives_the_user(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    user_id = claims(tokens["access"])["sub"]
    deleted = await client.delete("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert deleted.status_code == 200
    [event] = await feed(client)
    assert (event["type"], event["user_id"]) == ("deleted", user_id)
    assert (await db.execute(select(User))).scalar_one_or_none() is None


async def test_a_refused_action_appends_no_event(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    wrong = await client.put(
        "/api/v1/change-password/",
        json={"old_password": "Wr0ng!Password", "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access"]),
    )
    assert wrong.status_code == 400
    assert await feed(client) == []
    assert (await db.execute(select(AccountEvent))).first() is None


async def test_events_come_in_seq_order_after_the_given_seq_and_up_to_the_limit(
    client: httpx.AsyncClient,
) -> None:
    for name in ("ada", "bob", "cy"):
        await logout(client, await register(client, email=f"{name}@example.com"))
    everything = await feed(client)
    seqs = [event["seq"] for event in everything]
    assert len(seqs) == 3
    assert seqs == sorted(seqs)
    assert await feed(client, after=seqs[0], limit=1) == everything[1:2]
    assert await feed(client, after=seqs[1]) == everything[2:]
    assert await feed(client, after=seqs[2]) == []


async def test_old_logout_and_password_events_are_pruned_but_deletions_are_kept(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await logout(client, await register(client, email="old@example.com"))
    gone = await register(client, email="gone@example.com")
    await client.delete("/api/v1/profile/", headers=bearer(gone["access"]))
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    await db.execute(update(AccountEvent).values(at=two_days_ago))
    await db.commit()
    await logout(client, await register(client))  # appending prunes what expired
    assert [event["type"] for event in await feed(client)] == ["deleted", "logout"]


async def test_refuses_a_missing_or_wrong_secret_with_403(client: httpx.AsyncClient) -> None:
    missing = await client.get(URL)
    wrong = await client.get(URL, headers={"X-Internal-Secret": "nope"})
    assert missing.status_code == wrong.status_code == 403
    assert wrong.json()["code"] == "invalid_internal_secret"


@pytest.mark.parametrize(
    ("param", "value"),
    [("after", "-1"), ("after", str(2**63)), ("after", "x"), ("limit", "0"), ("limit", "1001")],
)
async def test_refuses_a_bad_after_or_limit_with_422(
    client: httpx.AsyncClient, param: str, value: str
) -> None:
    response = await client.get(URL, params={param: value}, headers=INTERNAL)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["loc"] == ["query", param]
