"""Shared security rules: the client address behind proxies, the policy of each Redis use
when Redis fails, unreadable cache entries and the secrets a service starts with."""

import asyncio
import ipaddress
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from limits import parse
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis
from starlette.requests import Request

from shop_common.logs import JsonFormatter
from shop_common.rate_limit import LocalLimiter, RateLimiter, client_ip
from shop_common.redis import JsonCache, create_redis
from shop_common.settings import MIN_DISTINCT_CHARACTERS
from shop_common.testing.fixtures import app_client, redis_url_for_tests
from shop_common.testing.secrets import strong_secret
from shop_contracts.authentication import UserServiceSettings

from .test_rate_limit import closed_port
from .testapp import CommonTestSettings, build_app

DATABASE_URL = "postgresql+asyncpg://shop:hunter2-db-password@db/shop"
PEER_NETWORK = "203.0.113.0/24"  # app_client's peer (203.0.113.10) is a trusted proxy
CALLER_SECRET = strong_secret("common-caller")
USER_SECRET = strong_secret("common-user-service")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "common", **labels}) or 0.0


def settings_with(**values: Any) -> CommonTestSettings:
    return CommonTestSettings(database_url=SecretStr(DATABASE_URL), **values)


# ------------------------------------------------------------------ client IP
async def statuses(
    make_settings: Callable[..., CommonTestSettings], headers: list[list[tuple[str, str]]]
) -> list[int]:
    settings = make_settings(rate_limit_default="2/minute", trusted_proxies=[PEER_NETWORK])
    async with app_client(build_app(settings)) as client:
        return [(await client.get("/limited/", headers=h)).status_code for h in headers]


async def test_every_forwarded_for_line_is_read_so_a_rotated_first_line_is_no_bypass(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 3: the proxy appends its own `X-Forwarded-For` line; the client's own first
    line changes every request, the address the proxy saw does not."""
    requests = [
        [("X-Forwarded-For", f"198.51.100.{n}"), ("X-Forwarded-For", "192.0.2.7")] for n in range(3)
    ]
    assert await statuses(make_settings, requests) == [200, 200, 429]


async def test_hops_are_walked_right_to_left_past_every_trusted_proxy(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 3: the client is the right-most hop that is not a trusted proxy (here an
    inner proxy of ours, 203.0.113.5, forwarded what the edge proxy appended)."""
    requests = [
        [("X-Forwarded-For", f"198.51.100.{n}"), ("X-Forwarded-For", "192.0.2.7, 203.0.113.5")]
        for n in range(3)
    ]
    requests.append([("X-Forwarded-For", "192.0.2.8, 203.0.113.5")])  # another client
    assert await statuses(make_settings, requests) == [200, 200, 429, 200]


async def test_ipv6_clients_share_one_bucket_per_64(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 3: addresses inside one /64 are one client; the next /64 is another."""
    requests = [[("X-Forwarded-For", f"2001:db8:1:2::{n:x}")] for n in (1, 0xBEEF, 0xFFFF)]
    requests.append([("X-Forwarded-For", "[2001:db8:1:3::1]:443")])
    assert await statuses(make_settings, requests) == [200, 200, 429, 200]


def request_from(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in forwarded]
    client = None if peer is None else (peer, 1234)
    return Request({"type": "http", "headers": headers, "client": client})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", ["198.51.100.9"], "192.0.2.1"),  # not a proxy: its header is ignored
        ("203.0.113.10", [], "203.0.113.10"),  # a proxy that forwarded nothing
        ("203.0.113.10", ["203.0.113.3, 203.0.113.2"], "203.0.113.3"),  # proxies only
        ("203.0.113.10", ["198.51.100.9:5555"], "198.51.100.9"),  # with a port
        ("203.0.113.10", ["::ffff:198.51.100.9"], "198.51.100.9"),  # IPv4-mapped
        ("2001:db8:0:1:aaaa::1", [], "2001:db8:0:1::/64"),
        (None, [], "unknown"),
    ],
)
def test_the_client_key_of_a_request(peer: str | None, forwarded: list[str], expected: str) -> None:
    """Finding 3: which address a request is limited under."""
    trusted = [ipaddress.ip_network(PEER_NETWORK)]
    assert client_ip(request_from(peer, *forwarded), trusted) == expected


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
@pytest.mark.parametrize("environment", ["production", "test"])
def test_trusting_every_address_as_a_proxy_is_refused_outside_development(
    everyone: str, environment: str
) -> None:
    """Finding 3: with 0.0.0.0/0 trusted any client names its own address."""
    with pytest.raises(ValidationError) as raised:
        settings_with(
            environment=environment, secret=CALLER_SECRET, trusted_proxies=["10.0.0.0/8", everyone]
        )
    assert f"TRUSTED_PROXIES must not trust every address ({everyone})" in str(raised.value)
    assert settings_with(environment="development", trusted_proxies=[everyone]).trusted_proxies


def test_a_trusted_proxy_that_is_no_address_is_refused() -> None:
    """Finding 3: a typo must not start a service whose proxy rule silently does nothing."""
    with pytest.raises(ValidationError) as raised:
        settings_with(secret=CALLER_SECRET, trusted_proxies=["10.0.0.0/8", "proxy.internal"])
    assert "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network" in str(raised.value)


# -------------------------------------------------------- Redis failure policy
def dead_redis_limiter(make_settings: Callable[..., CommonTestSettings]) -> RateLimiter:
    settings = make_settings(
        rate_limit_login_account="2/minute", redis_url=f"redis://127.0.0.1:{closed_port()}/0"
    )
    return RateLimiter(create_redis(settings.redis_url), settings)


async def test_without_redis_the_login_limit_per_account_holds_in_process(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 4: guessing one account's password must stay limited while Redis is down."""
    before = metric("redis_fail_open_total", use="login_account")
    limiter = dead_redis_limiter(make_settings)
    waits = [await limiter.consume("login_account", "ada@example.com") for _ in range(3)]
    other = await limiter.consume("login_account", "bob@example.com")
    assert waits[:2] == [None, None]
    assert waits[2] is not None
    assert 1 <= waits[2] <= 60
    assert other is None
    assert metric("redis_fail_open_total", use="login_account") - before == 4


async def test_a_successful_login_clears_the_in_process_count_too(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 4, control: the fallback keeps the rule that only failures count."""
    limiter = dead_redis_limiter(make_settings)
    for _ in range(2):
        assert await limiter.consume("login_account", "ada@example.com") is None
    await limiter.clear("login_account", "ada@example.com")
    assert await limiter.consume("login_account", "ada@example.com") is None


def test_the_in_process_limiter_forgets_the_least_recent_key_beyond_its_bound() -> None:
    """Finding 4: bounded memory whatever the number of accounts tried."""
    limiter = LocalLimiter(max_keys=3)
    limit = parse("1/minute")
    for key in ("a", "b", "c", "d"):
        assert limiter.hit(limit, "login_account", key) is None
    assert limiter.hit(limit, "login_account", "d") is not None  # still counted
    assert len(limiter.windows) == 3
    assert ("login_account", "a") not in limiter.windows  # forgotten first


async def test_without_redis_the_per_ip_limits_fail_open_and_are_counted(
    make_settings: Callable[..., CommonTestSettings],
) -> None:
    """Finding 4: the general limits let requests through, counted per use."""
    before = metric("redis_fail_open_total", use="rate_limit")
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    settings = make_settings(rate_limit_default="1/minute", redis_url=dead)
    async with app_client(build_app(settings)) as client:
        responses = [await client.get("/limited/") for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert metric("redis_fail_open_total", use="rate_limit") - before == 2


async def test_a_command_waits_for_a_pooled_connection_instead_of_failing() -> None:
    """Finding 4: with every pooled connection busy, a command used to fail at once (and
    switch the limits off); it now waits up to its timeout for a connection."""
    redis = create_redis(redis_url_for_tests(), timeout=1.0, max_connections=1)
    try:

        async def hold_the_connection() -> Any:
            return await redis.blpop(["no-such-list"], timeout=0.2)

        busy = asyncio.create_task(hold_the_connection())
        await asyncio.sleep(0.05)  # the one connection is now blocked in BLPOP
        assert await redis.ping() is True
        assert await busy is None
    finally:
        await redis.aclose()


# ------------------------------------------------------- what Redis holds
@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(redis_url_for_tests(), timeout=2.0)
    yield client
    await client.aclose()


async def test_an_unreadable_cache_entry_is_a_counted_miss_not_a_500(
    redis: Redis, redis_prefix: str
) -> None:
    """Finding 6: whatever Redis holds, a cache read never fails the request."""
    cache = JsonCache(redis, prefix=redis_prefix, name="product", service="common")
    await redis.set(cache.key("42"), b"\xff not json", ex=60)
    before = metric("cache_requests_total", cache="product", result="invalid")
    assert await cache.get("42") is None
    assert metric("cache_requests_total", cache="product", result="invalid") - before == 1


# ----------------------------------------------------------------- secrets
@pytest.mark.parametrize(
    "secret", ["k" * 40, "internal-" + "k" * 40, "abcdefghijklmno" * 3], ids=["one", "9", "15"]
)
def test_a_long_but_repetitive_secret_is_refused_outside_development(secret: str) -> None:
    """Finding 9: length alone let `"k" * 40` through."""
    with pytest.raises(ValidationError) as raised:
        settings_with(environment="production", secret=secret)
    assert f"secret has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters" in str(
        raised.value
    )
    assert settings_with(environment="development", secret=secret).secret


def test_the_previous_secret_equal_to_the_current_one_is_refused() -> None:
    """Finding 9: two secrets of one service must differ."""
    with pytest.raises(ValidationError) as raised:
        settings_with(environment="test", secret=CALLER_SECRET, secret_previous=CALLER_SECRET)
    assert "secret_previous equals secret" in str(raised.value)


def test_a_callers_own_secret_equal_to_its_callees_is_refused() -> None:
    """Finding 9: a service compares every secret it knows, its callees' included: one
    leaked value must not open two doors."""
    with pytest.raises(ValidationError) as raised:
        UserServiceSettings(
            environment="production",
            database_url=SecretStr(DATABASE_URL),
            secret=SecretStr(CALLER_SECRET),
            user_service_secret=SecretStr(CALLER_SECRET),
        )
    assert "user_service_secret equals secret" in str(raised.value)
    accepted = UserServiceSettings(
        environment="production",
        database_url=SecretStr(DATABASE_URL),
        secret=SecretStr(CALLER_SECRET),
        user_service_secret=SecretStr(USER_SECRET),
    )
    assert accepted.user_service_secret.get_secret_value() == USER_SECRET


def test_test_secrets_are_strong_stable_and_distinct() -> None:
    """Finding 9, the helper: the suites' secrets pass the production rules."""
    labels = ["user-internal", "user-jwt", "product-internal", "order-internal"]
    values = [strong_secret(label) for label in labels]
    assert len(set(values)) == len(labels)
    assert all(len(set(v)) >= MIN_DISTINCT_CHARACTERS and len(v) >= 32 for v in values)
    assert strong_secret("user-jwt") == values[1]


def test_database_and_redis_urls_are_kept_out_of_reprs_and_dumps() -> None:
    """Finding 9: the URLs carry passwords."""
    settings = settings_with(
        secret=CALLER_SECRET, redis_url=SecretStr("redis://:hunter2-redis@cache:6379/0")
    )
    shown = repr(settings) + str(settings.model_dump())
    assert "hunter2" not in shown
    assert settings.database_url.get_secret_value() == DATABASE_URL


def test_passwords_in_logged_urls_are_masked() -> None:
    """Finding 9: a URL in a message, a field or a traceback keeps its user, not its
    password."""
    try:
        raise ConnectionError("cannot reach redis://:hunter2-redis@cache:6379/0")
    except ConnectionError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "engine on %s", (DATABASE_URL,), sys.exc_info()
        )
    record.fields = {"url": "amqp://shop:hunter2-mq@mq//", "status": 503}
    line = json.loads(JsonFormatter("common").format(record))
    assert "hunter2" not in json.dumps(line)
    assert line["message"] == "engine on postgresql+asyncpg://shop:***@db/shop"
    assert line["url"] == "amqp://shop:***@mq//"
    assert "redis://:***@cache:6379/0" in line["exc_info"]
    assert line["status"] == 503


def test_json_formatter_leaves_urls_without_a_password_alone() -> None:
    """Finding 9, control: nothing else in a line is rewritten."""
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "GET https://a.example/x:y@z redis://cache:6379/0", (), None
    )
    line = json.loads(JsonFormatter("common").format(record))
    assert line["message"] == "GET https://a.example/x:y@z redis://cache:6379/0"
