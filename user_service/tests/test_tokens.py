"""Refresh rotation, logout, and every way a token must be refused."""

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import RefreshToken
from user_service.tokens import TokenIssuer

from .conftest import JWT_SECRET, bearer, register

PROFILE = "/api/v1/profile/"
INVALID_TOKEN = {"message": "Invalid or expired token", "code": "invalid_token"}


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/refresh-token/", json={"refresh_token": token})


def _claims(user_id: str, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "type": "access",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "iss": "shop-user-service",
        "aud": "shop",
    }
    claims.update(overrides)
    return claims


async def _user_id(client: httpx.AsyncClient, access: str) -> str:
    response = await client.get(PROFILE, headers=bearer(access))
    return str(response.json()["data"]["id"])


async def test_refresh_rotates_the_pair_and_spends_the_old_token(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    response = await _refresh(client, tokens["refresh"])
    assert response.status_code == 200
    new = response.json()["data"]
    assert new["refresh"] != tokens["refresh"]
    assert (await client.get(PROFILE, headers=bearer(new["access"]))).status_code == 200
    rows = (await db.execute(select(RefreshToken))).scalars().all()
    assert len(rows) == 2
    assert sum(1 for r in rows if r.used_at is not None) == 1


async def test_reusing_a_spent_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    second = (await _refresh(client, tokens["refresh"])).json()["data"]
    replay = await _refresh(client, tokens["refresh"])
    assert replay.status_code == 401
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    assert (await _refresh(client, second["refresh"])).status_code == 401
    rows = (await db.execute(select(RefreshToken))).scalars().all()
    assert all(r.revoked_at is not None for r in rows)


async def test_access_token_is_refused_as_refresh_and_refresh_as_access(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register(client)
    assert (await _refresh(client, tokens["access"])).status_code == 401
    response = await client.get(PROFILE, headers=bearer(tokens["refresh"]))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_garbage_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await _refresh(client, "not-a-jwt")
    assert_refused(response)


async def test_logout_stops_both_tokens_at_once(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    tokens = await register(client)
    response = await client.post(
        "/api/v1/logout/",
        json={"refresh_token": tokens["refresh"]},
        headers=bearer(tokens["access"]),
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    assert (await client.get(PROFILE, headers=bearer(tokens["access"]))).status_code == 401
    assert (await _refresh(client, tokens["refresh"])).status_code == 401
    stored = (await db.execute(select(RefreshToken))).scalar_one()
    assert stored.revoked_at is not None


async def test_logout_requires_a_bearer_token(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    response = await client.post("/api/v1/logout/", json={"refresh_token": tokens["refresh"]})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_logout_with_someone_elses_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    ada = await register(client, "ada@example.com")
    bob = await register(client, "bob@example.com")
    response = await client.post(
        "/api/v1/logout/", json={"refresh_token": bob["refresh"]}, headers=bearer(ada["access"])
    )
    assert response.status_code == 401
    assert (await _refresh(client, bob["refresh"])).status_code == 200


async def _profile(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(PROFILE, headers=bearer(token))


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response.headers["WWW-Authenticate"] == "Bearer"


def assert_accepted(response: httpx.Response, user_id: str) -> None:
    """The positive control: the same recipe without its one defect is a valid token."""
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == user_id


async def test_expired_token_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    user_id = await _user_id(client, tokens["access"])
    past = int(time.time()) - 3600
    expired = jwt.encode(_claims(user_id, iat=past, exp=past + 60), JWT_SECRET, "HS256")
    current = jwt.encode(_claims(user_id, iat=past, exp=past + 7200), JWT_SECRET, "HS256")
    assert_refused(await _profile(client, expired))
    assert_accepted(await _profile(client, current), user_id)


async def test_token_with_a_bad_signature_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    user_id = await _user_id(client, tokens["access"])
    claims = _claims(user_id)
    forged = jwt.encode(claims, "another-key-" + "x" * 40, "HS256")
    signed = jwt.encode(claims, JWT_SECRET, "HS256")
    assert_refused(await _profile(client, forged))
    assert_accepted(await _profile(client, signed), user_id)


async def test_unsigned_alg_none_token_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    user_id = await _user_id(client, tokens["access"])
    claims = _claims(user_id)
    unsigned = jwt.encode(claims, None, algorithm="none")
    signed = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    assert_refused(await _profile(client, unsigned))
    assert_accepted(await _profile(client, signed), user_id)


@pytest.mark.parametrize("missing", ["sub", "type", "jti", "iat", "exp", "iss", "aud"])
async def test_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, missing: str
) -> None:
    tokens = await register(client)
    user_id = await _user_id(client, tokens["access"])
    complete = _claims(user_id)
    partial = {name: value for name, value in complete.items() if name != missing}
    assert_refused(await _profile(client, jwt.encode(partial, JWT_SECRET, "HS256")))
    assert_accepted(await _profile(client, jwt.encode(complete, JWT_SECRET, "HS256")), user_id)


async def test_token_for_another_audience_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await register(client)
    user_id = await _user_id(client, tokens["access"])
    other = jwt.encode(_claims(user_id, aud="someone-else"), JWT_SECRET, "HS256")
    ours = jwt.encode(_claims(user_id, aud="shop"), JWT_SECRET, "HS256")
    assert_refused(await _profile(client, other))
    assert_accepted(await _profile(client, ours), user_id)


async def test_malformed_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    for header in ("Bearer", "Basic abc", "Bearer    ", "token"):
        response = await client.get(PROFILE, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["code"]


@pytest.mark.parametrize(
    ("overrides", "lifetime"),
    [({}, 15 * 60), ({"access_token_minutes": 2}, 120), ({"access_token_seconds": 3}, 3)],
)
def test_access_token_lifetime_setting(
    make_settings: Callable[..., Settings], overrides: dict[str, int], lifetime: int
) -> None:
    """USER_SERVICE_ACCESS_TOKEN_SECONDS, when set, replaces the minutes (browser tests of
    expiry run with a few seconds); the refresh token keeps its days."""
    issuer = TokenIssuer(make_settings(**overrides))
    token, claims = issuer.issue(uuid.uuid4(), "access", generation=0)
    assert claims.exp - int(claims.iat) == lifetime
    decoded = jwt.decode(token, JWT_SECRET, ["HS256"], audience="shop")
    assert decoded["exp"] - int(decoded["iat"]) == lifetime
    _, refresh = issuer.issue(uuid.uuid4(), "refresh", generation=0)
    assert refresh.exp - int(refresh.iat) == 7 * 86400


async def test_an_over_long_bearer_token_is_401(client: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, PROFILE, headers=bearer("a" * 5000))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == INVALID_TOKEN


async def test_short_access_token_expires_and_refresh_still_works(
    make_settings: Callable[..., Settings],
) -> None:
    """End to end on the app: a 1-second access token (no leeway) is refused once it has
    expired, and the refresh token of the same pair still gives a working new one."""
    app = create_app(make_settings(access_token_seconds=1, jwt_leeway_seconds=0))
    async with app_client(app) as client:
        tokens = await register(client, email="brief@example.com")
        assert (await _profile(client, tokens["access"])).status_code == 200
        await asyncio.sleep(2.1)
        assert_refused(await _profile(client, tokens["access"]))
        fresh = await _refresh(client, tokens["refresh"])
        assert fresh.status_code == 200, fresh.text
        assert (await _profile(client, fresh.json()["data"]["access"])).status_code == 200
