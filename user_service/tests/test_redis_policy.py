"""The user service without Redis (issue 11, finding 4): authentication keeps working, the
per-account login limit still holds (in process), and every fail-open is counted."""

from collections.abc import Callable

from prometheus_client import REGISTRY

from shop_common.testing.fixtures import app_client
from user_service.config import Settings
from user_service.main import create_app

from .conftest import bearer, register

DEAD_REDIS = "redis://127.0.0.1:1/0"


def fail_opens(use: str) -> float:
    return REGISTRY.get_sample_value("redis_fail_open_total", {"service": "user", "use": use}) or 0


async def test_without_redis_guessing_one_accounts_password_is_still_limited(
    make_settings: Callable[..., Settings],
) -> None:
    """Finding 4: the per-account limit used to switch off with Redis."""
    app = create_app(make_settings(redis_url=DEAD_REDIS, rate_limit_login_account="2/minute"))
    before = fail_opens("login_account")
    async with app_client(app) as client:
        await register(client, "ada@example.com")
        guesses = [
            await client.post(
                "/api/v1/login/", json={"email": "ada@example.com", "password": f"Wr0ng!{n}xx"}
            )
            for n in range(3)
        ]
    assert [r.status_code for r in guesses] == [401, 401, 429]
    assert guesses[2].json()["code"] == "rate_limited"
    assert 1 <= int(guesses[2].headers["Retry-After"]) <= 60
    assert fail_opens("login_account") - before == 3


async def test_without_redis_tokens_are_accepted_and_the_denylist_fail_open_counted(
    make_settings: Callable[..., Settings],
) -> None:
    """Finding 4: authentication works without Redis; the skipped denylist read is
    counted, not only logged."""
    app = create_app(make_settings(redis_url=DEAD_REDIS))
    async with app_client(app) as client:
        tokens = await register(client, "ada@example.com")
        before = fail_opens("denylist")
        profile = await client.get("/api/v1/profile/", headers=bearer(tokens["access"]))
    assert profile.status_code == 200
    assert profile.json()["data"]["email"] == "ada@example.com"
    assert fail_opens("denylist") - before == 1
