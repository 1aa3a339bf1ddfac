"""`python -m shop_common.serve` on real sockets: with `INTERNAL_PORT` every worker listens
on both ports and the routes are split between them; without it one port serves all. Each
test owns its server process and stops it with SIGTERM, leaving no process behind."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shop_common import serve
from shop_common.testing.fixtures import redis_url_for_tests

from .conftest import SECRET

COMMON_DIR = Path(__file__).resolve().parents[1]  # the cwd where `tests` is this package
TARGET = "tests.serve_target:create_app"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
WITH_SECRET = {"X-Internal-Secret": SECRET}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().decode()
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def left_behind(pids: list[int]) -> list[int]:
    """Those of `pids` still alive after a short grace (multiprocessing's helper process
    ends once it sees its parent gone)."""
    for _ in range(50):
        if not any(alive(pid) for pid in pids):
            break
        await asyncio.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


class Server:
    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stopped_gracefully(self, workers: int) -> bool:
        """Exited by itself after SIGTERM (uvicorn re-raises the signal once it has shut
        down, hence -SIGTERM for a single process), every worker's lifespan closed."""
        exited = self.process.returncode in (0, -signal.SIGTERM)
        return exited and self.output().count("Application shutdown complete") == workers


@pytest.fixture
def serve_env(database_url: str, redis_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INTERNAL_PORT"}
    env.update(
        ENVIRONMENT="test",
        COMMON_TEST_DATABASE_URL=database_url,
        COMMON_TEST_REDIS_URL=redis_url_for_tests(),
        COMMON_TEST_REDIS_PREFIX=redis_prefix,
        COMMON_TEST_SECRET=SECRET,
    )
    return env


async def wait_until_up(server: Server, *ports: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2.0) as http:
        for port in ports:
            while True:
                assert server.process.returncode is None, server.output()
                with contextlib.suppress(httpx.TransportError):
                    response = await http.get(f"http://127.0.0.1:{port}/health-check/")
                    if response.status_code == 200:
                        break
                assert time.monotonic() < deadline, f"not up: {server.output()}"
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running(env: dict[str, str], log: Path, port: int, workers: int) -> AsyncIterator[Server]:
    """The server, started, then stopped with SIGTERM (killed, failing the test, if it hangs)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "shop_common.serve", TARGET, "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", str(workers)),
            cwd=COMMON_DIR,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own group: killed as one if it hangs
        )
    server = Server(process, log)
    try:
        yield server
    finally:
        await stop(server)


async def stop(server: Server) -> None:
    if server.process.returncode is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(server.process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        os.killpg(server.process.pid, signal.SIGKILL)
        await server.process.wait()
        pytest.fail(f"no graceful shutdown within {STOP_TIMEOUT_SECONDS}s: {server.output()}")


async def status(http: httpx.AsyncClient, method: str, url: str) -> int:
    return (await http.request(method, url, headers=WITH_SECRET)).status_code


async def test_with_an_internal_port_two_workers_split_the_routes_between_two_sockets(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    public_port, internal_port = free_port(), free_port()
    env = {**serve_env, "INTERNAL_PORT": str(internal_port)}
    async with running(env, tmp_path / "serve.log", public_port, workers=2) as server:
        await wait_until_up(server, public_port, internal_port)
        workers = children_of(server.process.pid)
        assert len([cmd for cmd in workers.values() if "spawn_main" in cmd]) == 2
        public, internal = f"http://127.0.0.1:{public_port}", f"http://127.0.0.1:{internal_port}"
        async with httpx.AsyncClient(timeout=5.0) as http:
            assert await status(http, "GET", f"{public}/request-id/") == 200
            assert await status(http, "POST", f"{public}/internal/v1/ping/") == 404
            assert await status(http, "GET", f"{public}/metrics") == 404
            assert await status(http, "GET", f"{public}/internal/openapi.json") == 404
            assert await status(http, "GET", f"{internal}/request-id/") == 404
            assert await status(http, "GET", f"{internal}/openapi.json") == 404
            assert await status(http, "POST", f"{internal}/internal/v1/ping/") == 200
            assert await status(http, "GET", f"{internal}/metrics") == 200
            assert await status(http, "GET", f"{internal}/internal/openapi.json") == 200
            for base in (public, internal):
                assert await status(http, "GET", f"{base}/health-check/") == 200
                assert await status(http, "GET", f"{base}/ready") == 200
    assert server.stopped_gracefully(workers=2), server.output()
    assert await left_behind(list(workers)) == []
    assert port_is_free(public_port)
    assert port_is_free(internal_port)


async def test_without_an_internal_port_one_socket_serves_everything(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    async with running(serve_env, tmp_path / "serve.log", port, workers=1) as server:
        await wait_until_up(server, port)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=5.0) as http:
            assert await status(http, "GET", f"{base}/request-id/") == 200
            assert await status(http, "POST", f"{base}/internal/v1/ping/") == 200
            assert await status(http, "GET", f"{base}/metrics") == 200
            assert await status(http, "GET", f"{base}/ready") == 200
    assert server.stopped_gracefully(workers=1), server.output()
    assert port_is_free(port)


def method_labels(exposition: str) -> set[str]:
    """Every `method` label of the HTTP series in a `/metrics` page."""
    labels = set()
    for line in exposition.splitlines():
        if line.startswith("http_request") and 'method="' in line:
            labels.add(line.split('method="', 1)[1].split('"', 1)[0])
    return labels


async def test_unknown_methods_share_one_metric_label_across_workers(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {**serve_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_LEVEL": "INFO"}
    port = free_port()
    async with running(env, tmp_path / "serve.log", port, workers=2) as server:
        await wait_until_up(server, port)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=5.0) as http:
            for method in ("PROPFIND", "MKCOL", "PURGE", "UNLOCK", "GET", "POST"):
                for _ in range(4):  # both workers see some
                    assert (await http.request(method, f"{base}/request-id/")).status_code < 500
            page = (await http.get(f"{base}/metrics")).text
    assert method_labels(page) == {"GET", "POST", "other"}
    files = {path.name.split("_")[0] for path in metrics_dir.iterdir()}
    assert "counter" in files
    log = server.log.read_text()
    assert '"method": "other"' in log  # the access line labels it the same
    assert "PROPFIND" not in log


def test_an_internal_port_equal_to_the_public_port_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTERNAL_PORT", "9001")
    with pytest.raises(SystemExit) as exited:
        serve.main([TARGET, "--port", "9001"])
    assert exited.value.code == 2
    assert "INTERNAL_PORT must differ from --port" in capsys.readouterr().err
