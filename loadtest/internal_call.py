"""Client CPU of one internal call: `ServiceClient` on aiohttp against httpx, and both bare.

    .venv/bin/python loadtest/internal_call.py --port 41001 --calls 4000 --rounds 3

Starts a bare ASGI app under uvicorn (uvloop, one process) on `--port`, then for each round
runs every client in a fresh process of its own: 16 callers at once POST a small JSON body
(a one-line reserve), a warm-up first, then `--calls` calls over which the client process's
own utime + stime is read. Prints the CPU ms per call of each client in each round; the
server's CPU is not counted. The order of the clients rotates from round to round.
"""

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

CONCURRENCY = 16
WARM_UP = 500
PATH = "/internal/v1/stock/reserve/"
ANSWER = json.dumps(
    {"data": {"order_id": str(uuid.uuid4()), "items": [{"name": "Lamp", "quantity": 1}]}}
).encode()
CLIENTS = ["ServiceClient, aiohttp", "ServiceClient, httpx", "aiohttp session", "httpx client"]
Call = Callable[[], Awaitable[Any]]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The callee: reads the body, answers a fixed small JSON."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def _body() -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
    }


async def _service_client(url: str, use_httpx: bool) -> tuple[Call, Call]:
    import httpx

    from shop_common.clients import ServiceClient

    transport = (
        httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )
        if use_httpx
        else None
    )
    client = ServiceClient(url, "s" * 40, service="bench", transport=transport)

    async def call() -> Any:
        return (await client.post("reserve", PATH, _body(), idempotent=True)).json()

    return call, client.aclose


async def _bare(url: str, name: str) -> tuple[Call, Call]:
    if name == "aiohttp session":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))

        async def call() -> Any:
            async with session.post(url + PATH, json=_body()) as response:
                return await response.json()

        return call, session.close
    import httpx

    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
    )

    async def bare_httpx() -> Any:
        return (await client.post(url + PATH, json=_body())).json()

    return bare_httpx, client.aclose


async def _run(call: Call, calls: int) -> None:
    async def caller(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(caller(calls // CONCURRENCY) for _ in range(CONCURRENCY)))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def client_main(name: str, url: str, calls: int) -> None:
    """In the client's own process: warm up, then print the CPU ms per measured call."""
    if name.startswith("ServiceClient"):
        call, close = await _service_client(url, use_httpx=name.endswith("httpx"))
    else:
        call, close = await _bare(url, name)
    await _run(call, WARM_UP)
    before = _cpu_seconds()
    await _run(call, calls)
    spent = _cpu_seconds() - before
    await close()
    print(f"{spent / calls * 1000:.3f}")


def _measure(name: str, url: str, calls: int, metrics_dir: str) -> float:
    """One client's CPU ms per call, in a fresh process (metrics in multiprocess mode, as
    in a service's worker)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    argv = [sys.executable, __file__, "--client", name, "--url", url, "--calls", str(calls)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return float(out.stdout.strip())


def _serve(port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", os.path.dirname(__file__)]
    argv += ["internal_call:app", "--port", str(port), "--loop", "uvloop", "--log-level", "warning"]
    server = subprocess.Popen(argv)  # noqa: S603
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310
            return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the callee did not start on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=41001)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        import uvloop

        uvloop.run(client_main(args.client, args.url, args.calls))
        return
    server = _serve(args.port)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for rounds in range(args.rounds):
            order = CLIENTS[rounds % len(CLIENTS) :] + CLIENTS[: rounds % len(CLIENTS)]
            for name in order:
                with tempfile.TemporaryDirectory() as metrics_dir:
                    spent = _measure(name, url, args.calls, metrics_dir)
                print(f"round {rounds + 1}  {name:24} {spent:.3f} ms/call", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
