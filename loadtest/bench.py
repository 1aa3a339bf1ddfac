"""Benchmark the running system: throughput and latency percentiles per scenario.

    python loadtest/bench.py --user URL --product URL --order URL [--duration 10] [--concurrency 32]

Each scenario runs `concurrency` clients in a closed loop for `duration` seconds against the
live services (start them with rate limiting off: see run_benchmark.sh) and reports
requests/s, error count and p50/p95/p99 latency. Set-up (users, products with plenty of stock)
is done before timing starts. Only loopback addresses are used.
"""

import argparse
import asyncio
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

PASSWORD = "Bench!Passw0rd"  # noqa: S105 - a throw-away benchmark account


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def row(self) -> str:
        ok = sorted(self.latencies)
        rate = len(ok) / self.elapsed if self.elapsed else 0.0

        def pct(p: float) -> float:
            return ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else float("nan")

        mean = statistics.fmean(ok) * 1000 if ok else float("nan")
        return (
            f"| {self.name} | {len(ok)} | {self.errors} | {rate:,.0f} | {mean:.1f} | "
            f"{pct(0.50):.1f} | {pct(0.95):.1f} | {pct(0.99):.1f} |"
        )


Call = Callable[[aiohttp.ClientSession], Awaitable[int]]


async def run_scenario(name: str, call: Call, *, duration: float, concurrency: int) -> Result:
    result = Result(name)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = await call(session)
                except aiohttp.ClientError:
                    status = 0
                if 200 <= status < 300:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


async def _post(
    session: aiohttp.ClientSession, url: str, body: object, token: str | None = None
) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as response:
        data: dict[str, object] = await response.json()
        if response.status >= 300:
            raise SystemExit(f"set-up failed: POST {url} -> {response.status} {data}")
        return data


async def setup(args: argparse.Namespace) -> tuple[str, list[str]]:
    """A user with an access token and products with enough stock for the order scenario."""
    async with aiohttp.ClientSession() as session:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        registered = await _post(
            session, f"{args.user}/api/v1/register/", {"email": email, "password": PASSWORD}
        )
        token = str(registered["data"]["access"])  # type: ignore[index]
        ids = []
        for _ in range(args.products):
            product = await _post(
                session,
                f"{args.product}/api/v1/product/",
                {"name": f"bench-{uuid.uuid4().hex[:8]}", "price": 1999, "stock": 10_000_000},
                token,
            )
            ids.append(str(product["data"]["id"]))  # type: ignore[index]
        return token, ids


def scenarios(args: argparse.Namespace, token: str, product_ids: list[str]) -> dict[str, Call]:
    auth = {"Authorization": f"Bearer {token}"}
    product_id = product_ids[0]
    turn = itertools.count()

    async def get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> int:
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status

    async def order(session: aiohttp.ClientSession) -> int:
        target = product_ids[next(turn) % len(product_ids)]
        body = json.dumps({"product_id": target, "quantity": 1})
        headers = {**auth, "Content-Type": "application/json"}
        async with session.post(
            f"{args.order}/api/v1/order/", data=body, headers=headers
        ) as response:
            await response.read()
            return response.status

    return {
        "health-check (baseline)": lambda s: get(s, f"{args.product}/health-check/", {}),
        "product detail (cached)": lambda s: get(
            s, f"{args.product}/api/v1/product/{product_id}/", {}
        ),
        "product list (filtered, sorted)": lambda s: get(
            s, f"{args.product}/api/v1/product/?limit=20&in_stock=true&sort=-price", {}
        ),
        "profile (JWT + DB)": lambda s: get(s, f"{args.user}/api/v1/profile/", auth),
        "order list (token via user svc)": lambda s: get(s, f"{args.order}/api/v1/order/", auth),
        f"order create (saga, {len(product_ids)} product(s))": order,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="http://127.0.0.1:8001")
    parser.add_argument("--product", default="http://127.0.0.1:8002")
    parser.add_argument("--order", default="http://127.0.0.1:8003")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    parser.add_argument(
        "--products", type=int, default=1, help="orders rotate over this many products"
    )
    args = parser.parse_args()
    token, product_ids = await setup(args)
    print(f"duration {args.duration:.0f}s per scenario, {args.concurrency} concurrent clients\n")
    print("| scenario | ok | errors | req/s | mean ms | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, call in scenarios(args, token, product_ids).items():
        if args.only and args.only not in name:
            continue
        result = await run_scenario(
            name, call, duration=args.duration, concurrency=args.concurrency
        )
        print(result.row(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
