"""Two instances of every service, against one PostgreSQL and one Redis (issue 14).

One system is started twice (harness.running_system): instance A with its embedded servers,
instance B on three more ports with A's servers and A's secrets. Both order services run
their reconcilers. Every caller reaches its callee's pair through a round-robin proxy
(DelayProxy with two targets), and the test's clients spread their requests over both
instances. Then the same promises as with one instance must hold:

- the burst of concurrent orders and deletes over both order instances, with ONE product
  instance's workers killed during it (the fault suite's product_kill): exact stock
  accounting, no order left pending;
- an Idempotency-Key honoured across instances, one after the other and at once;
- one rate limit across instances (failed logins per account, alternating instances);
- a logout or a password change on user A refused at once by user B, and by product and
  order (both instances, their token caches warm) within a few seconds: the account-event
  feed reaches them in about a second (docs/api.md), well inside the 30 s cache bound.
"""

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from .accounting import StockSampler, check_ledger, ledger_line, read_ledger, wait_settled
from .burst import PASSWORD, Burst, seed_shop, warm_up
from .faults import FaultWindow, inject
from .harness import SERVICES, System, free_ports, running_system
from .proxy import DelayProxy

LOGIN_LIMIT = 4  # failed logins per account and minute, for both instances
# How long product and order may take to refuse a revoked token: the feed is polled twice
# a second, so this is generous, and it is well below the 30 s a cached entry may live.
REVOCATION_DEADLINE = 10.0


@dataclass
class Pair:
    a: System
    b: System
    proxies: dict[str, DelayProxy]

    def urls(self, service: str) -> list[str]:
        return [self.a.url(service), self.b.url(service)]


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[Pair]:
    ports = free_ports(6)
    ports_a, ports_b = ports[:3], ports[3:]
    by_service = {s: (ports_a[i], ports_b[i]) for i, s in enumerate(SERVICES)}
    proxies = {s: DelayProxy("127.0.0.1", *by_service[s]) for s in ("user", "product")}
    env = {"RATE_LIMIT_LOGIN_ACCOUNT": f"{LOGIN_LIMIT}/minute"}
    for service, proxy in proxies.items():
        env[f"{service.upper()}_SERVICE_URL"] = f"http://127.0.0.1:{await proxy.start()}"
    try:
        async with (
            running_system("replicas-a", extra_env=env, instance_ports=ports_a) as a,
            running_system(
                "replicas-b",
                extra_env=env,
                instance_ports=ports_b,
                datastores=(a.server_url, a.redis_url),
                secrets_from=a.run_dir / "secrets.env",
            ) as b,
        ):
            yield Pair(a, b, proxies)
    finally:
        for proxy in proxies.values():
            await proxy.close()


async def test_burst_with_one_product_instance_killed_keeps_exact_stock(pair: Pair) -> None:
    rng = random.Random("replicas-burst")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        shop = await seed_shop(
            client, user_url=pair.a.url("user"), product_url=pair.b.url("product"), rng=rng
        )
        await warm_up(client, pair.urls("order"), shop)
        sampler = StockSampler(pair.a)
        sampler.start()
        window = FaultWindow("product_kill")
        burst = Burst(client, pair.urls("order"), shop, rng, window)
        running = asyncio.create_task(burst.run(until=lambda: window.over_for(3.0)))
        try:
            await inject(pair.a, window, when=lambda: burst.confirmed >= 10)
            result = await running
        finally:
            running.cancel()
            await sampler.stop()
    settled, pending, mid = await wait_settled(pair.a, 20.0)
    ledger = await read_ledger(pair.a)
    problems = check_ledger(ledger, shop.initial_stock, sampler.minimum)
    if window.started is None:
        problems.append("the product kill was never injected")
    if settled is None:
        problems.append(f"not settled within 20 s: {pending} pending, {mid} mid-delete")
    bad = [o for o in result.outcomes if o.status_code is None or o.status_code in (500, 502)]
    if bad:
        problems.append(f"{len(bad)} answers other than 2xx/4xx/503")
    line = (
        f"replicas product_kill (one of two) {'ok' if not problems else 'FAIL'} | "
        f"{len(result.outcomes)} requests over 2 order instances | "
        f"{ledger_line(ledger, shop.initial_stock)}"
    )
    print(line)
    assert not problems, "\n".join([line, *problems])
    assert all(p.connections >= 2 for p in pair.proxies.values()), "a proxy was never used twice"


async def _buyer(client: httpx.AsyncClient, pair: Pair, tag: str) -> tuple[str, dict[str, str]]:
    email = f"{tag}-{uuid.uuid4().hex[:8]}@example.com"
    answer = await client.post(
        f"{pair.a.url('user')}/api/v1/register/", json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text
    return email, {"Authorization": f"Bearer {answer.json()['data']['access']}"}


async def _product(client: httpx.AsyncClient, pair: Pair, stock: int) -> str:
    _, seller = await _buyer(client, pair, "seller")
    answer = await client.post(
        f"{pair.b.url('product')}/api/v1/product/",
        json={"name": f"Twin {uuid.uuid4().hex[:8]}", "price": 100, "stock": stock},
        headers=seller,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


async def test_idempotency_key_is_honoured_across_instances(pair: Pair) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        product = await _product(client, pair, stock=10)
        _, buyer = await _buyer(client, pair, "idem")
        body = {"items": [{"product_id": product, "quantity": 2}]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await client.post(
            f"{pair.a.url('order')}/api/v1/order/", json=body, headers={**buyer, **key}
        )
        again = await client.post(
            f"{pair.b.url('order')}/api/v1/order/", json=body, headers={**buyer, **key}
        )
        assert first.status_code == 201, first.text
        assert again.status_code == 201, again.text
        assert again.json()["data"]["id"] == first.json()["data"]["id"]
        # the same key at once on both instances: one order, never two
        key = {"Idempotency-Key": str(uuid.uuid4())}
        both = await asyncio.gather(
            *(
                client.post(f"{url}/api/v1/order/", json=body, headers={**buyer, **key})
                for url in pair.urls("order")
            )
        )
        created = {r.json()["data"]["id"] for r in both if r.status_code == 201}
        assert len(created) == 1, [r.text for r in both]
        assert all(
            r.status_code == 201 or r.json().get("code") == "idempotency_in_progress" for r in both
        ), [r.text for r in both]
        listing = await client.get(f"{pair.b.url('order')}/api/v1/order/", headers=buyer)
        assert listing.json()["count"] == 2  # the first key's order and this one
        stock = await client.get(f"{pair.a.url('product')}/api/v1/product/{product}/")
        assert stock.json()["data"]["stock"] == 10 - 2 * 2


async def test_one_rate_limit_across_instances(pair: Pair) -> None:
    """Failed logins of one account, alternating between the two user instances: the
    limit counts them together (kept per instance, the 429 would come twice as late)."""
    async with httpx.AsyncClient(timeout=30) as client:
        email, _ = await _buyer(client, pair, "limited")
        statuses = []
        for attempt in range(LOGIN_LIMIT + 1):
            url = pair.urls("user")[attempt % 2]
            answer = await client.post(
                f"{url}/api/v1/login/", json={"email": email, "password": "Wr0ng!Password"}
            )
            statuses.append(answer.status_code)
        assert statuses == [401] * LOGIN_LIMIT + [429], statuses


async def test_logout_reaches_every_instance(pair: Pair) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        email, _ = await _buyer(client, pair, "leaver")
        login = await client.post(
            f"{pair.a.url('user')}/api/v1/login/", json={"email": email, "password": PASSWORD}
        )
        tokens = login.json()["data"]
        auth = {"Authorization": f"Bearer {tokens['access']}"}
        await _warm_token_caches(client, pair, auth)
        out = await client.post(
            f"{pair.a.url('user')}/api/v1/logout/",
            json={"refresh_token": tokens["refresh"]},
            headers=auth,
        )
        assert out.status_code == 200, out.text
        # the other user instance refuses it at once
        profile = await client.get(f"{pair.b.url('user')}/api/v1/profile/", headers=auth)
        assert profile.status_code == 401
        refresh = await client.post(
            f"{pair.b.url('user')}/api/v1/refresh-token/",
            json={"refresh_token": tokens["refresh"]},
        )
        assert refresh.status_code == 401
        refused = await _refused_everywhere(client, pair, auth)
        print(f"logout refused by every instance within {max(refused.values()):.1f} s")


async def test_a_password_change_reaches_every_instance_but_spares_the_new_session(
    pair: Pair,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        email, old = await _buyer(client, pair, "changer")
        await _warm_token_caches(client, pair, old)
        new_password = "N3w!" + PASSWORD
        changed = await client.put(
            f"{pair.b.url('user')}/api/v1/change-password/",
            json={"old_password": PASSWORD, "new_password": new_password},
            headers=old,
        )
        assert changed.status_code == 200, changed.text
        login = await client.post(
            f"{pair.a.url('user')}/api/v1/login/", json={"email": email, "password": new_password}
        )
        new = {"Authorization": f"Bearer {login.json()['data']['access']}"}
        await _warm_token_caches(client, pair, new)
        refused = await _refused_everywhere(client, pair, old)
        print(f"password change refused by every instance within {max(refused.values()):.1f} s")
        for url in pair.urls("order"):
            assert (await client.get(f"{url}/api/v1/order/", headers=new)).status_code == 200


async def _warm_token_caches(client: httpx.AsyncClient, pair: Pair, auth: dict[str, str]) -> None:
    """Have every product and order instance resolve (and cache) the token."""
    for url in pair.urls("order"):
        assert (await client.get(f"{url}/api/v1/order/", headers=auth)).status_code == 200
    for url in pair.urls("product"):
        body = {"name": f"warm {uuid.uuid4().hex[:8]}", "price": 1}
        answer = await client.post(f"{url}/api/v1/product/", json=body, headers=auth)
        assert answer.status_code == 201, answer.text


async def _refused_everywhere(
    client: httpx.AsyncClient, pair: Pair, auth: dict[str, str]
) -> dict[str, float]:
    """Poll every product and order instance until each refuses `auth` with 401; the
    seconds each took. Fails after REVOCATION_DEADLINE."""
    guarded = [f"{url}/api/v1/order/" for url in pair.urls("order")]
    writes = [f"{url}/api/v1/product/" for url in pair.urls("product")]
    started = time.monotonic()
    refused: dict[str, float] = {}
    while len(refused) < len(guarded) + len(writes):
        assert time.monotonic() - started <= REVOCATION_DEADLINE, (
            f"still accepted after {REVOCATION_DEADLINE:g} s: "
            f"{sorted(set(guarded + writes) - set(refused))}"
        )
        for url in guarded:
            if url not in refused and (await client.get(url, headers=auth)).status_code == 401:
                refused[url] = time.monotonic() - started
        for url in writes:
            if url in refused:
                continue
            body = {"name": f"after revocation {uuid.uuid4().hex[:6]}", "price": 1}
            if (await client.post(url, json=body, headers=auth)).status_code == 401:
                refused[url] = time.monotonic() - started
        await asyncio.sleep(0.25)
    return refused
