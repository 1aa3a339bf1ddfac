"""The workload of a fault run: seed a shop through the public API, then a concurrent burst of
order creates and deletes that records every answer, and the recovery probe after a fault.

Every choice comes from the `random.Random` given, so a seed names a workload (the order in
which concurrent answers arrive still varies from run to run).
"""

import asyncio
import heapq
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .faults import FaultWindow
from .harness import request_budget_seconds

__all__ = [
    "PASSWORD",
    "Burst",
    "BurstResult",
    "Buyer",
    "Outcome",
    "Recovery",
    "Shop",
    "probe_recovery",
    "seed_shop",
    "warm_up",
]

PASSWORD = "Str0ng!Passw0rd"
ORDERS = "/api/v1/order/"
PRODUCTS = "/api/v1/product/"
# The test client gives up this long after a request's budget (the check allows 2 s).
CLIENT_SLACK_SECONDS = 2.5


def client_timeout(method: str) -> float:
    return request_budget_seconds(method) + CLIENT_SLACK_SECONDS


@dataclass(frozen=True)
class Buyer:
    email: str
    token: str
    # A second access token of the same user, used only while the fault is in force: the
    # order service has not cached it, so it must ask the user service (a real token check
    # happens during every fault, not only cache hits).
    fresh_token: str

    def headers(self, *, fresh: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fresh_token if fresh else self.token}"}


@dataclass(frozen=True)
class Shop:
    buyers: list[Buyer]
    seller: Buyer
    products: list[str]
    initial_stock: dict[str, int]


async def _register(client: httpx.AsyncClient, user_url: str, email: str) -> Buyer:
    body = {"email": email, "password": PASSWORD, "name": email.split("@")[0]}
    response = await client.post(f"{user_url}/api/v1/register/", json=body)
    assert response.status_code == 201, f"register {email}: {response.status_code} {response.text}"
    tokens = response.json()["data"]
    refreshed = await client.post(
        f"{user_url}/api/v1/refresh-token/", json={"refresh_token": tokens["refresh"]}
    )
    assert refreshed.status_code == 200, f"refresh {email}: {refreshed.text}"
    return Buyer(email, tokens["access"], refreshed.json()["data"]["access"])


async def seed_shop(
    client: httpx.AsyncClient,
    *,
    user_url: str,
    product_url: str,
    rng: random.Random,
    buyers: int = 8,
    products: int = 5,
    stock: int = 40,
    price: int = 1000,
) -> Shop:
    """Register `buyers` buyers and one seller; the seller creates `products` products."""
    tag = f"{rng.getrandbits(32):08x}"
    registered = await asyncio.gather(
        *(_register(client, user_url, f"buyer{n}-{tag}@example.com") for n in range(buyers + 1))
    )
    seller, shoppers = registered[-1], list(registered[:-1])
    created: dict[str, int] = {}
    for n in range(products):
        body = {"name": f"Fault item {n} {tag}", "price": price, "stock": stock}
        response = await client.post(
            f"{product_url}{PRODUCTS}", json=body, headers=seller.headers()
        )
        assert response.status_code == 201, f"create product: {response.text}"
        data = response.json()["data"]
        created[data["id"]] = int(data["stock"])
    return Shop(shoppers, seller, list(created), created)


async def warm_up(client: httpx.AsyncClient, order_urls: Sequence[str], shop: Shop) -> int:
    """Each buyer lists its orders and places one order of one unit (with its usual token):
    every service's workers have connections and caches before the burst. The orders placed."""

    async def one(n: int, buyer: Buyer) -> None:
        url = order_urls[n % len(order_urls)]
        listed = await client.get(f"{url}{ORDERS}", headers=buyer.headers())
        assert listed.status_code == 200, f"warm-up list: {listed.status_code} {listed.text}"
        product = shop.products[n % len(shop.products)]
        body = {"items": [{"product_id": product, "quantity": 1}]}
        headers = {**buyer.headers(), "Idempotency-Key": f"warm-up-{n}"}
        placed = await client.post(f"{url}{ORDERS}", json=body, headers=headers)
        assert placed.status_code == 201, f"warm-up order: {placed.status_code} {placed.text}"

    await asyncio.gather(*(one(n, buyer) for n, buyer in enumerate(shop.buyers)))
    return len(shop.buyers)


@dataclass(frozen=True)
class Outcome:
    """One request of the burst, as the client saw it."""

    method: str
    kind: str  # create, create-retry, delete
    status: str  # "201", ..., or the client-side exception's name
    started: float  # seconds since the burst started
    elapsed: float
    code: str | None  # the `code` of the JSON answer, when it has one
    in_fault: bool  # started while the fault was in force

    @property
    def status_code(self) -> int | None:
        return int(self.status) if self.status.isdigit() else None


@dataclass
class BurstResult:
    outcomes: list[Outcome]
    seconds: float
    confirmed: list[str] = field(default_factory=list)  # ids answered 201

    def counts(self, method: str) -> Counter[str]:
        return Counter(o.status for o in self.outcomes if o.method == method)

    def line(self) -> str:
        """e.g. `POST 201:140 409:60 503:12; DELETE 200:30 202:4`."""
        parts = []
        for method in ("POST", "DELETE"):
            counts = self.counts(method)
            shown = " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))
            parts.append(f"{method} {shown or '-'}")
        return "; ".join(parts)

    def dump(self, path: Path) -> None:
        """Every outcome as one JSON line (kept with the logs of a failed run)."""
        with path.open("w") as out:
            for outcome in self.outcomes:
                out.write(json.dumps(asdict(outcome)) + "\n")

    def codes(self) -> Counter[str]:
        return Counter(f"{o.method} {o.status} {o.code}" for o in self.outcomes if o.code)


def _code(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


class Burst:
    """`concurrency` clients at once against one or more order service URLs, until `until()`
    is true or a cap (`max_requests`, `max_seconds`) is reached:
    - creators: orders of 1-3 lines (quantity 1-3) over the shop's products, each with a
      fresh `Idempotency-Key`, retried once with the same key 0.5 s after a 503;
    - `deleters` of them: deletes of about `delete_share` of the confirmed orders, each
      `delete_after` seconds after its 201, so that deletes meet the fault too."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        order_urls: Sequence[str],
        shop: Shop,
        rng: random.Random,
        window: FaultWindow | None = None,
        *,
        concurrency: int = 32,
        deleters: int = 8,
        max_requests: int = 5000,
        max_seconds: float = 30.0,
        delete_share: float = 1 / 3,
        delete_after: tuple[float, float] = (0.2, 2.5),
        retry_delay: float = 0.5,
    ) -> None:
        self.client = client
        self.order_urls = list(order_urls)
        self.shop = shop
        self.rng = rng
        self.window = window
        self.concurrency = concurrency
        self.deleters = deleters
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.delete_share = delete_share
        self.delete_after = delete_after
        self.retry_delay = retry_delay
        self._outcomes: list[Outcome] = []
        # Orders to delete, each at its own time (a heap of (due, seq, id, buyer)): deletes are
        # spread over the burst, so some of them meet the fault.
        self._to_delete: list[tuple[float, int, str, Buyer]] = []
        self._confirmed: list[str] = []
        self._started = 0.0
        self._issued = 0

    async def run(self, until: Callable[[], bool]) -> BurstResult:
        self._started = time.monotonic()

        def done() -> bool:
            return (
                until()
                or time.monotonic() - self._started >= self.max_seconds
                or self._issued >= self.max_requests
            )

        creators = [self._creator(done) for _ in range(self.concurrency - self.deleters)]
        deleters = [self._deleter(done) for _ in range(self.deleters)]
        await asyncio.gather(*creators, *deleters)
        return BurstResult(self._outcomes, time.monotonic() - self._started, list(self._confirmed))

    @property
    def confirmed(self) -> int:
        """Orders answered 201 so far."""
        return len(self._confirmed)

    def _fresh(self) -> bool:
        return self.window is not None and self.window.active()

    async def _creator(self, done: Callable[[], bool]) -> None:
        while not done():
            await self._create()

    async def _deleter(self, done: Callable[[], bool]) -> None:
        # Deleters are clients of their own, so deletes go on while creates are stuck.
        while not done():
            if self._to_delete and self._to_delete[0][0] <= time.monotonic():
                _, _, order_id, buyer = heapq.heappop(self._to_delete)
                await self._delete(order_id, buyer)
            else:
                await asyncio.sleep(0.02)

    def _body(self) -> dict[str, Any]:
        chosen = self.rng.sample(self.shop.products, self.rng.randint(1, 3))
        return {
            "items": [{"product_id": pid, "quantity": self.rng.randint(1, 3)} for pid in chosen]
        }

    async def _create(self) -> None:
        buyer = self.rng.choice(self.shop.buyers)
        body = self._body()
        key = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        url = self.rng.choice(self.order_urls)
        response = await self._send("POST", "create", f"{url}{ORDERS}", buyer, body, key)
        if response is not None and response.status_code == 503:
            await asyncio.sleep(self.retry_delay)
            response = await self._send("POST", "create-retry", f"{url}{ORDERS}", buyer, body, key)
        if response is not None and response.status_code == 201:
            order_id = response.json()["data"]["id"]
            self._confirmed.append(order_id)
            if self.rng.random() < self.delete_share:
                due = time.monotonic() + self.rng.uniform(*self.delete_after)
                heapq.heappush(self._to_delete, (due, len(self._confirmed), order_id, buyer))

    async def _delete(self, order_id: str, buyer: Buyer) -> None:
        url = self.rng.choice(self.order_urls)
        await self._send("DELETE", "delete", f"{url}{ORDERS}{order_id}/", buyer, None, None)

    async def _send(
        self,
        method: str,
        kind: str,
        url: str,
        buyer: Buyer,
        body: dict[str, Any] | None,
        key: str | None,
    ) -> httpx.Response | None:
        self._issued += 1
        in_fault = self._fresh()
        headers = buyer.headers(fresh=in_fault)
        if key is not None:
            headers["Idempotency-Key"] = key
        started = time.monotonic()
        response: httpx.Response | None = None
        try:
            response = await self.client.request(
                method, url, json=body, headers=headers, timeout=client_timeout(method)
            )
            status, code = str(response.status_code), _code(response)
        except httpx.HTTPError as exc:
            status, code = type(exc).__name__, None
        self._outcomes.append(
            Outcome(
                method,
                kind,
                status,
                started - self._started,
                time.monotonic() - started,
                code,
                in_fault,
            )
        )
        return response


@dataclass
class Recovery:
    seconds: float | None  # from the end of the fault to the last probe answering; None: never
    answers: dict[str, str]


async def probe_recovery(
    client: httpx.AsyncClient,
    *,
    order_url: str,
    product_url: str,
    shop: Shop,
    rng: random.Random,
    since: float,
    within: float,
) -> Recovery:
    """Poll until each of a buyer's order list, a product read and a new order (201, or 409
    when stock is out) has answered, at most `within` seconds after `since` (monotonic)."""
    buyer = rng.choice(shop.buyers)
    product = rng.choice(shop.products)
    answers: dict[str, str] = {}
    good: dict[str, bool] = {"list": False, "product": False, "create": False}
    while True:
        checks = {
            "list": ("GET", f"{order_url}{ORDERS}", None, {201, 200}),
            "product": ("GET", f"{product_url}{PRODUCTS}{product}/", None, {200}),
            "create": (
                "POST",
                f"{order_url}{ORDERS}",
                {"items": [{"product_id": product, "quantity": 1}]},
                {201, 409},
            ),
        }
        for name, (method, url, body, ok) in checks.items():
            if good[name]:
                continue
            headers = buyer.headers()
            if body is not None:
                headers["Idempotency-Key"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            try:
                response = await client.request(method, url, json=body, headers=headers, timeout=5)
                answers[name] = str(response.status_code)
                good[name] = response.status_code in ok
            except httpx.HTTPError as exc:
                answers[name] = type(exc).__name__
        now = time.monotonic()
        if all(good.values()):
            return Recovery(max(0.0, now - since), answers)
        if now > since + within:
            return Recovery(None, answers)
        await asyncio.sleep(0.25)
