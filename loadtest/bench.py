"""Benchmark the running system against this machine's ceilings, measured in the same run.

    python loadtest/bench.py --pgdata DIR | --database-url URL [--user URL ...] [--duration 15]

Seeds 10,000 products and 200 users through the public API, starts the bare ceiling app
(loadtest/ceiling_app.py, 2 uvicorn workers) on the same PostgreSQL, measures argon2 verifies
per second on 2 threads with the user service's own parameters, then drives every scenario and
every ceiling with wrk (loadtest/wrk/bench.lua: `-t2 -c64`, 3 s warm-up, then 15 s). Around
each measured window it reads the CPU time of every service (supervisor and workers), of
PostgreSQL (postmaster and backends) and of Redis from /proc (proc_cpu.py), for the CPU
milliseconds per request of each. It writes the report as Markdown and JSON (latest.md,
latest.json in --out-dir). The load generator
shares the machine with the services: a ratio to a ceiling measured under the same conditions
is the figure to compare across machines, not a raw rate.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
from proc_cpu import alive_pid, listener_root, pid_from_file, trees_seconds
from scaling import SCALE, measure_scaling, scaling_report

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "bench.lua"
PASSWORD = "Bench!Passw0rd"  # noqa: S105 - throw-away benchmark accounts
# Fixed whatever the services use, so that the ratios cannot drift between runs.
THREADS, CONNECTIONS, CEILING_WORKERS, WRK_TIMEOUT = 2, 64, 2, "5s"
ARGON2_THREADS = 2
HOT_STOCK = 10**9
WORDS = ["alpha", "bravo", "carbon", "delta", "ember", "fjord", "garnet", "harbor", "ivory", "jade"]
LIST_PATH = "/api/v1/product/?q=carbon&min_price=50000&sort=price&limit=20"
CEILING_DB = "bench_ceiling"
AFTER = " (after)"
SETUP_ATTEMPTS = 20
SERVICES = ("user", "product", "order")
# The process trees whose CPU is counted (the ceiling app only while it runs; not wrk).
PROCESSES = (*SERVICES, "PostgreSQL", "Redis")
CEILING_PROCESS = "ceiling app"
# Quiet: all the trees together below a tenth of a core over half a second.
SETTLED_CPU, SETTLE_STEP, SETTLE_LIMIT = 0.1, 0.5, 30.0


@dataclass
class Seed:
    tokens: list[str]
    emails: list[str]
    products: list[str]  # all seeded ids; the first `order_products` take orders
    hot: str


@dataclass
class Run:
    """One wrk run as its Lua done() reported it (latencies in ms)."""

    name: str
    ok: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # every response wrk counted, successes or not
    sent: int = 0  # every request wrk sent: answered, or in flight when it stopped
    cpu_ms: dict[str, float | None] = field(default_factory=dict)  # per request, by process

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass
class Scenario:
    name: str
    base: str  # "user", "product", "order" or "ceiling"
    kind: str
    path: str = "/"
    ceiling: str = ""
    target: float = 0.0
    ok_status: tuple[int, ...] = (200,)
    threads: int = THREADS
    connections: int = CONNECTIONS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="http://127.0.0.1:8001")
    parser.add_argument("--product", default="http://127.0.0.1:8002")
    parser.add_argument("--order", default="http://127.0.0.1:8003")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--database-url", help="the PostgreSQL server for the ceiling app")
    where.add_argument("--pgdata", type=Path, help="an embedded PostgreSQL's data folder")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--order-products", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--only",
        default="",
        help="run only scenarios whose name has this (or one of several separated by |)",
    )
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument("--header", default="", help="a line to put under the title")
    parser.add_argument(
        "--seed-file",
        type=Path,
        help="reuse the users and products of an earlier run on the same system (written "
        "there when missing): for profiling loops; the users are logged in afresh",
    )
    parser.add_argument(
        "--no-ceilings", action="store_true", help="skip the ceilings (for profiling loops)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="the native run's state folder: the services' pids from its pids/, Redis's from "
        "embedded/redis/redis.pid (otherwise found by their listening sockets)",
    )
    parser.add_argument("--redis-port", type=int, help="find Redis by its listening port")
    parser.add_argument(
        "--no-scaling",
        action="store_true",
        help=f"skip the scaling check (it inserts {SCALE - 1}x the catalogue into the product "
        "database for a minute, then deletes it)",
    )
    parser.add_argument(
        "--product-database",
        default="product_db",
        help="the product service's database on the PostgreSQL server (for the scaling check)",
    )
    parser.add_argument(
        "--pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help=f"the root process of one of {', '.join(PROCESSES)} (repeatable)",
    )
    return parser.parse_args(argv)


# --- seeding -------------------------------------------------------------------------------


async def _post(
    session: aiohttp.ClientSession, url: str, body: object, token: str = ""
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(SETUP_ATTEMPTS):
        async with session.post(url, json=body, headers=headers) as response:
            data: dict[str, Any] = await response.json()
            if response.status < 300:
                return data
            if response.status != 429 and response.status < 500:
                break
        await asyncio.sleep(0.5)  # busy (429 from the argon2 slots) or briefly down
    raise SystemExit(f"set-up failed: POST {url} -> {response.status} {data}")


async def _bounded(limit: int, jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


def _product_body(index: int, stock: int, rng: random.Random) -> dict[str, Any]:
    word = WORDS[index % len(WORDS)]
    return {
        "name": f"bench {word} {index:05d}",
        "description": f"A {word} item for the benchmark, number {index}.",
        "price": rng.randrange(100, 100_000),
        "stock": stock,
    }


async def _login_all(session: aiohttp.ClientSession, url: str, emails: list[str]) -> list[str]:
    jobs = [_post(session, url, {"email": e, "password": PASSWORD}) for e in emails]
    return [str(r["data"]["access"]) for r in await _bounded(8, jobs)]


async def seed(args: argparse.Namespace) -> Seed:
    """The seeded data, from `--seed-file` when it exists (with fresh tokens)."""
    if args.seed_file and args.seed_file.exists():
        saved = json.loads(args.seed_file.read_text())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            tokens = await _login_all(session, f"{args.user}/api/v1/login/", saved["emails"])
        return Seed(tokens, saved["emails"], saved["products"], saved["hot"])
    data = await _seed(args)
    if args.seed_file:
        keep = {"emails": data.emails, "products": data.products, "hot": data.hot}
        args.seed_file.write_text(json.dumps(keep))
    return data


async def _seed(args: argparse.Namespace) -> Seed:
    """Users, products (the first `order_products` with a stock that never runs out), then
    fresh access tokens of every user: logged in last so that none expires during the run."""
    run = uuid.uuid4().hex[:8]
    emails = [f"bench-{run}-{i:03d}@example.com" for i in range(args.users)]
    rng = random.Random(run)  # noqa: S311 - test data
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tokens = await _login_all(session, f"{args.user}/api/v1/register/", emails)
        url = f"{args.product}/api/v1/product/"
        stocks = [HOT_STOCK if i < args.order_products else i % 50 for i in range(args.products)]
        jobs = [
            _post(session, url, _product_body(i, stock, rng), tokens[i % len(tokens)])
            for i, stock in enumerate(stocks)
        ]
        products = [str(r["data"]["id"]) for r in await _bounded(32, jobs)]
        tokens = await _login_all(session, f"{args.user}/api/v1/login/", emails)
    return Seed(tokens, emails, products, products[0])


def write_lua_data(path: Path, data: Seed, order_products: int) -> None:
    def table(items: list[str]) -> str:
        return "{" + ",".join(json.dumps(item) for item in items) + "}"

    users = "{" + ",".join(f"{{{json.dumps(e)},{json.dumps(PASSWORD)}}}" for e in data.emails)
    path.write_text(
        f"tokens = {table(data.tokens)}\n"
        f"products = {table(data.products[:order_products])}\n"
        f"hot = {json.dumps(data.hot)}\n"
        f"users = {users}}}\n"
    )


# --- the ceilings ---------------------------------------------------------------------------


def server_url(args: argparse.Namespace) -> str:
    """A libpq URL of the PostgreSQL server (its `postgres` database)."""
    if args.database_url:
        return str(args.database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
    lines = (args.pgdata / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3], lines[4]  # postmaster.pid: pid, data dir, start, port, socket
    return f"postgresql://postgres@/postgres?host={socket_dir}&port={port}"


def _with_database(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def prepare_ceiling_db(url: str, products: int) -> str:
    """A fresh database of the ceiling app with `products` rows of endless stock."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{CEILING_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{CEILING_DB}"')
    finally:
        await conn.close()
    db_url = _with_database(url, CEILING_DB)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "CREATE TABLE products (id int PRIMARY KEY, stock bigint NOT NULL);"
            "CREATE TABLE orders (id bigserial PRIMARY KEY, product_id int NOT NULL"
            " REFERENCES products (id), quantity int NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(
            "INSERT INTO products SELECT g, $1 FROM generate_series(1, $2) g", HOT_STOCK, products
        )
    finally:
        await conn.close()
    return db_url


async def drop_ceiling_db(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{CEILING_DB}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the ceiling app exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the ceiling app did not come up on port {port}")


@contextmanager
def ceiling_app(db_url: str, products: int) -> Iterator[tuple[str, int]]:
    """The ceiling app's URL and its supervisor's pid, while it runs."""
    port = free_port()
    env = {**os.environ, "CEILING_DATABASE_URL": db_url, "CEILING_PRODUCTS": str(products)}
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "ceiling_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(CEILING_WORKERS)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(port, process)
        time.sleep(1.0)  # both workers serving
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def argon2_rate(seconds: float) -> float:
    """Verifies per second of ARGON2_THREADS threads with the user service's hasher (argon2
    releases the GIL, as the service's worker threads rely on)."""
    from user_service.passwords import _hasher  # the service's own parameters

    digest = _hasher.hash(PASSWORD)
    deadline = time.perf_counter() + seconds
    counts = [0] * ARGON2_THREADS

    def work(slot: int) -> None:
        while time.perf_counter() < deadline:
            _hasher.verify(digest, PASSWORD)
            counts[slot] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(ARGON2_THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


# --- the processes whose CPU is counted ----------------------------------------------------


def _port(url: str) -> int | None:
    return urlsplit(url).port


def service_pid(args: argparse.Namespace, name: str) -> int | None:
    """The service's supervisor: from the run's pid file, else the owner of its port."""
    pid = pid_from_file(args.run_dir / "pids" / f"{name}.pid") if args.run_dir else None
    port = _port(getattr(args, name))
    return pid or (listener_root(port) if port else None)


def postgres_pid(args: argparse.Namespace) -> int | None:
    """The postmaster: from postmaster.pid, the socket's lock file or the TCP listener."""
    if args.pgdata:
        return pid_from_file(args.pgdata / "postmaster.pid")
    url = urlsplit(server_url(args))
    host = parse_qs(url.query).get("host", [url.hostname or ""])[0]
    port = url.port or int(parse_qs(url.query).get("port", ["5432"])[0])
    if host.startswith("/"):
        return pid_from_file(Path(host) / f".s.PGSQL.{port}.lock")
    return listener_root(port)


def redis_pid(args: argparse.Namespace) -> int | None:
    """The embedded redis-server (a daemon: its pid file), else the owner of --redis-port."""
    folders = [args.run_dir / "embedded"] if args.run_dir else []
    folders += [args.pgdata.parent] if args.pgdata else []
    for folder in folders:
        pid = pid_from_file(folder / "redis" / "redis.pid")
        if pid:
            return pid
    return listener_root(args.redis_port) if args.redis_port else None


def process_roots(args: argparse.Namespace) -> dict[str, int | None]:
    """The root pid of each process tree to measure (None: not found, reported as such)."""
    roots = {name: service_pid(args, name) for name in SERVICES}
    roots |= {"PostgreSQL": postgres_pid(args), "Redis": redis_pid(args)}
    for item in args.pid:
        name, _, pid = item.partition("=")
        if name not in PROCESSES or not pid.isdigit():
            raise SystemExit(f"--pid {item}: expected NAME=PID with NAME one of {PROCESSES}")
        roots[name] = alive_pid(int(pid))
    return roots


def settle(roots: dict[str, int | None]) -> dict[str, float | None]:
    """A reading of the trees once they are quiet (below SETTLED_CPU of a core over a
    SETTLE_STEP), or after SETTLE_LIMIT seconds at most."""
    reading = trees_seconds(roots)
    deadline = time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP)
        previous, reading = reading, trees_seconds(roots)
        busy = sum((reading[n] or 0.0) - (previous[n] or 0.0) for n in roots)
        if busy < SETTLED_CPU * SETTLE_STEP:
            break
    return reading


def cpu_per_request(
    before: dict[str, float | None], after: dict[str, float | None], requests: int
) -> dict[str, float | None]:
    """CPU ms per request of each tree between two readings (None: not measured)."""
    result: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        if start is None or end is None or requests <= 0:
            result[name] = None
        else:
            result[name] = (end - start) * 1000 / requests
    return result


# --- driving wrk ----------------------------------------------------------------------------


def wrk_command(scenario: Scenario, url: str, seconds: float) -> list[str]:
    return [
        "wrk",
        f"-t{scenario.threads}",
        f"-c{scenario.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(LUA),
        url,
    ]


def start_wrk(
    scenario: Scenario, url: str, seconds: float, data: Path, out: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BENCH_DATA": str(data),
        "BENCH_KIND": scenario.kind,
        "BENCH_PATH": scenario.path,
        "BENCH_OUT": str(out),
    }
    command = wrk_command(scenario, url, seconds)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603


def read_run(scenario: Scenario, out: Path) -> Run:
    raw = json.loads(out.read_text())
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    ok = sum(v for k, v in statuses.items() if k in scenario.ok_status)
    errors: dict[str, int] = {}
    for status, count in statuses.items():
        if status not in scenario.ok_status:
            key = str(status) if status // 100 == 2 else f"{status // 100}xx"
            errors[key] = errors.get(key, 0) + count
    errors |= {f"socket {k}": v for k, v in raw["errors"].items() if k != "status" and v}
    latency = raw["latency_us"]
    return Run(
        scenario.name,
        ok,
        raw["duration_us"] / 1e6,
        latency["p50"] / 1000,
        latency["p95"] / 1000,
        latency["p99"] / 1000,
        {k: v for k, v in errors.items() if v},
        sum(statuses.values()),
        int(raw.get("sent", 0)),
    )


class Driver:
    def __init__(
        self,
        args: argparse.Namespace,
        urls: dict[str, str],
        work: Path,
        roots: dict[str, int | None],
    ) -> None:
        self.args, self.urls, self.work, self.roots = args, urls, work, roots
        self.data = work / "data.lua"

    def run(self, *scenarios: Scenario) -> list[Run]:
        """Warm up, then run the scenarios side by side for the duration; each run carries
        the CPU per request of every process over the measured window (side by side, of
        all the scenarios' requests together).

        The services finish a request whose client has gone, so the window is read once the
        warm-up's last requests are done, and again once the window's own are: its CPU is
        then that of exactly the requests wrk sent in it."""
        self._wait(scenarios, self.args.warmup, "warm")
        before = settle(self.roots)
        runs = self._wait(scenarios, self.args.duration, "run")
        after = settle(self.roots)
        sent = sum(run.sent or run.requests for run in runs)
        return [replace(run, cpu_ms=cpu_per_request(before, after, sent)) for run in runs]

    def _wait(self, scenarios: tuple[Scenario, ...], seconds: float, tag: str) -> list[Run]:
        if seconds <= 0:
            return []
        outs = [self.work / f"{tag}-{i}.json" for i in range(len(scenarios))]
        procs = [
            start_wrk(s, self.urls[s.base], seconds, self.data, out)
            for s, out in zip(scenarios, outs, strict=True)
        ]
        for proc, scenario in zip(procs, scenarios, strict=True):
            if proc.wait() != 0:
                raise SystemExit(f"wrk failed on {scenario.name}")
        return [read_run(s, out) for s, out in zip(scenarios, outs, strict=True)]


# --- the scenarios and the report -----------------------------------------------------------


def ceilings() -> list[Scenario]:
    return [
        Scenario("C_json", "ceiling", "get", "/json"),
        Scenario("C_db", "ceiling", "get", "/db"),
        Scenario("C_ord", "ceiling", "post", "/ord", ok_status=(201,)),
        Scenario("C_hot", "ceiling", "post", "/hot", ok_status=(201,)),
    ]


def scenarios(seed_data: Seed) -> list[Scenario]:
    detail = f"/api/v1/product/{seed_data.products[-1]}/"
    return [
        Scenario("GET /health-check/", "product", "get", "/health-check/", "C_json", 0.8),
        Scenario("product detail (cached)", "product", "get", detail, "C_json", 0.3),
        Scenario(
            "product list, q + min_price + sort=price", "product", "get", LIST_PATH, "C_db", 0.25
        ),
        Scenario("profile (JWT + DB)", "user", "get_auth", "/api/v1/profile/", "C_db", 0.4),
        Scenario(
            ORDER_SCENARIO,
            "order",
            "order",
            ceiling="C_ord",
            target=0.25,
            ok_status=(201,),
        ),
        Scenario(
            "order create, one hot product",
            "order",
            "order_hot",
            ceiling="C_hot",
            target=0.5,
            ok_status=(201,),
        ),
        Scenario("order list", "order", "get_auth", "/api/v1/order/", "C_db", 0.4),
        Scenario("login", "user", "login", ceiling="argon2", target=0.8),
    ]


FLOOD_LOGIN = Scenario("login (flood)", "user", "login", threads=1, connections=32)
FLOOD_PROFILE = Scenario(
    "profile, 16 conn.", "user", "get_auth", "/api/v1/profile/", threads=1, connections=16
)
ORDER_P99_MS = 300.0
FLOOD_TARGET = 3.0
ORDER_SCENARIO = "order create, random product of 1,000"
ORDER_CPU_TARGET_MS = 7.0
CPU_COLUMNS = (*PROCESSES, CEILING_PROCESS)


def _errors(run: Run) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(run.errors.items())) or "0"


def _row(run: Run, ceiling: str, ceiling_rate: float, target: float, max_p99: float) -> str:
    """A scenario's line: its figures, its ratio to its ceiling, the target and whether met."""
    ratio = run.rate / ceiling_rate if ceiling_rate else 0.0
    met = ratio >= target and (not max_p99 or run.p99 <= max_p99)
    goal = f">= {target:g}" + (f", p99 <= {max_p99:g} ms" if max_p99 else "")
    return (
        f"| {run.name} | {run.rate:,.0f} | {run.p50:.1f} | {run.p95:.1f} | {run.p99:.1f} | "
        f"{_errors(run)} | {ceiling} | {ratio:.2f} | {goal} | {'yes' if met else '**no**'} |"
    )


def report(
    args: argparse.Namespace, runs: dict[str, Run], argon2: list[float], flood: dict[str, Run]
) -> tuple[str, dict[str, Any]]:
    rates = {name: run.rate for name, run in runs.items()} | {
        "argon2": statistics.fmean(argon2 or [0.0])
    }
    for c in ceilings():
        if c.name + AFTER in runs:
            rates[c.name] = statistics.fmean([runs[c.name].rate, runs[c.name + AFTER].rate])
    lines = [
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | ceiling | ratio | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    table = []
    for scenario in scenarios(Seed([], [], ["x"], "x")):
        run = runs.get(scenario.name)
        if run is None:
            continue
        max_p99 = ORDER_P99_MS if scenario.kind == "order" else 0.0
        ceiling_rate = rates.get(scenario.ceiling, 0.0)
        lines.append(_row(run, scenario.ceiling, ceiling_rate, scenario.target, max_p99))
        table.append(
            asdict(run)
            | {"rate": run.rate, "ceiling": scenario.ceiling, "target": scenario.target}
            | {"ratio": run.rate / ceiling_rate if ceiling_rate else 0}
        )
    lines += ["", "Ceilings, measured in the same run before and after the scenarios (a ratio is"]
    lines += ["to the mean of the two):", ""]
    lines += [
        "| ceiling | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in [c.name + suffix for suffix in ("", AFTER) for c in ceilings()]:
        if name in runs:
            r = runs[name]
            lines.append(
                f"| {name} | {r.rate:,.0f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} "
                f"| {_errors(r)} |"
            )
    for when, rate in zip(("", AFTER), argon2, strict=False):
        lines.append(f"| argon2 verifies/s, {ARGON2_THREADS} threads{when} | {rate:,.1f} | | | | |")
    result: dict[str, Any] = {
        "scenarios": table,
        "ceilings": {c: asdict(runs[c]) | {"rate": runs[c].rate} for c in rates if c in runs},
        "argon2_verifies_per_second": argon2,
        "ceiling_rates_used": rates,
    }
    if flood:
        idle, during = flood["idle"], flood["flood"]
        factor = during.p99 / idle.p99 if idle.p99 else 0.0
        met = "yes" if factor <= FLOOD_TARGET else "**no**"
        lines += [
            "",
            "Profile during a login flood (32 connections of login + 16 of profile at once):",
            "",
            "| profile p99 idle ms | profile p99 during flood ms | factor | target | met |"
            " login req/s during | profile req/s during |",
            "|---:|---:|---:|---|---|---:|---:|",
            f"| {idle.p99:.1f} | {during.p99:.1f} | {factor:.2f} | <= {FLOOD_TARGET:g}x | {met} "
            f"| {flood['login'].rate:,.0f} | {during.rate:,.0f} |",
        ]
        result["flood"] = {k: asdict(v) | {"rate": v.rate} for k, v in flood.items()}
        result["flood"]["p99_factor"] = factor
    return "\n".join(lines), result


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cpu_row(name: str, cpu: dict[str, float | None]) -> tuple[str, float]:
    """A run's line of the CPU table, and its total over the processes measured."""
    values = [cpu.get(process) for process in CPU_COLUMNS]
    total = sum(value for value in values if value is not None)
    return f"| {name} | " + " | ".join(_ms(v) for v in values) + f" | {total:.2f} |", total


def _per_order(runs: dict[str, Run]) -> tuple[list[str], dict[str, Any]]:
    """The CPU of one order across the services, PostgreSQL and Redis, against its target."""
    run = runs.get(ORDER_SCENARIO)
    values = [run.cpu_ms.get(process) for process in PROCESSES] if run else [None]
    if any(value is None for value in values):
        return [], {}
    total = sum(value for value in values if value is not None)
    met = "yes" if total <= ORDER_CPU_TARGET_MS else "**no**"
    return [
        "",
        "| CPU per order (order create, random), services + PostgreSQL + Redis | target | met |",
        "|---:|---|---|",
        f"| {total:.2f} ms | <= {ORDER_CPU_TARGET_MS:g} ms | {met} |",
    ], {"ms": total, "target_ms": ORDER_CPU_TARGET_MS}


def cpu_report(
    runs: dict[str, Run], roots: dict[str, int | None]
) -> tuple[list[str], dict[str, Any]]:
    """The table of CPU ms per request, run by process, and the CPU per order's target."""
    lines = [
        "CPU ms per request by process (utime + stime of each process tree from the end of the",
        "warm-up's requests to the end of the window's, divided by the requests wrk sent in",
        "the window; wrk itself is not counted):",
        "",
        "| run | " + " | ".join(CPU_COLUMNS) + " | total |",
        "|---|" + "---:|" * (len(CPU_COLUMNS) + 1),
    ]
    table: dict[str, dict[str, float | None]] = {}
    ordered = sorted(runs.items(), key=lambda item: item[0].startswith("C_"))
    for name, run in ordered:
        if run.cpu_ms:
            line, total = _cpu_row(name, run.cpu_ms)
            lines.append(line)
            table[name] = run.cpu_ms | {"total": total}
    found = [f"{n} {pid}" for n, pid in roots.items() if pid is not None]
    missing = [n for n, pid in roots.items() if pid is None]
    lines += ["", "Root pids (each with all its children): " + ", ".join(found) + "."]
    if missing:
        lines.append(f"Not found, so not measured (n/a): {', '.join(missing)}.")
    order_lines, per_order = _per_order(runs)
    return lines + order_lines, {"ms_per_request": table, "roots": roots, "per_order": per_order}


def header(args: argparse.Namespace, started: float, load_average: tuple[float, ...]) -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in load_average)
    return [
        f"# Benchmark {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime(started))}",
        "",
        f"{os.cpu_count()} cores; load average at the start {load}; wrk -t{THREADS} "
        f"-c{CONNECTIONS}, {args.warmup:g} s warm-up then {args.duration:g} s per scenario; "
        f"{args.products:,} products ({args.order_products:,} take orders), {args.users} users; "
        f"ceiling app {CEILING_WORKERS} uvicorn workers. {args.header}".rstrip(),
        "",
    ]


def _selected(args: argparse.Namespace, name: str) -> bool:
    """Whether `--only` lets the run named `name` run (no `--only`: every run)."""
    return not args.only or any(part in name for part in args.only.split("|"))


def measure(args: argparse.Namespace, driver: Driver, seed_data: Seed) -> dict[str, Run]:
    """The ceilings, the scenarios, then the ceilings again: other load on the machine moves
    them, so a scenario's ratio is to the mean of its ceiling before and after."""
    runs: dict[str, Run] = {}
    after = [replace(c, name=c.name + AFTER) for c in ceilings()]
    for scenario in ceilings() + scenarios(seed_data) + after:
        is_ceiling = scenario.name.startswith("C_")
        if not _selected(args, scenario.name) and not is_ceiling:
            continue
        if is_ceiling and args.no_ceilings:
            continue
        (runs[scenario.name],) = driver.run(scenario)
        print(f"{scenario.name}: {runs[scenario.name].rate:,.0f} req/s", flush=True)
    return runs


def measure_flood(args: argparse.Namespace, driver: Driver) -> dict[str, Run]:
    if not _selected(args, "profile during a login flood"):
        return {}
    (idle,) = driver.run(FLOOD_PROFILE)
    login, during = driver.run(FLOOD_LOGIN, FLOOD_PROFILE)
    return {"idle": idle, "flood": during, "login": login}


async def _main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    started, load_average = time.time(), os.getloadavg()
    seed_data = await seed(args)
    print(f"seeded {len(seed_data.products)} products, {len(seed_data.tokens)} users", flush=True)
    server = server_url(args)
    roots = process_roots(args)
    db_url = await prepare_ceiling_db(server, args.order_products)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-") as work,
            ceiling_app(db_url, args.order_products) as (ceiling, ceiling_pid),
        ):
            write_lua_data(Path(work) / "data.lua", seed_data, args.order_products)
            urls = {"user": args.user, "product": args.product, "order": args.order}
            roots[CEILING_PROCESS] = ceiling_pid
            driver = Driver(args, urls | {"ceiling": ceiling}, Path(work), roots)
            argon2_seconds = max(args.duration / 3, 1.0)
            argon2 = [] if args.no_ceilings else [argon2_rate(argon2_seconds)]
            runs = measure(args, driver, seed_data)
            argon2 += [] if args.no_ceilings else [argon2_rate(argon2_seconds)]
            flood = measure_flood(args, driver)
    finally:
        await drop_ceiling_db(server)
    table, result = report(args, runs, argon2, flood)
    cpu_lines, result["cpu"] = cpu_report(runs, roots)
    table += "\n\n" + "\n".join(cpu_lines)
    if not args.no_scaling and _selected(args, "scaling check"):
        database = _with_database(server, args.product_database)
        scaling_lines, result["scaling"] = scaling_report(
            await measure_scaling(args.product, database, WORDS)
        )
        table += "\n\n" + "\n".join(scaling_lines)
    took = time.time() - started
    end_load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = (
        "\n".join(header(args, started, load_average))
        + "\n"
        + table
        + f"\n\nThe run took {took:.0f} s; load average at the end {end_load}.\n"
    )
    result["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    result |= {"seconds": took, "load_average_at_start": load_average}
    result |= {"duration": args.duration, "warmup": args.warmup}
    result["load_average_at_end"] = os.getloadavg()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "latest.md").write_text(text)
    (args.out_dir / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    main()
