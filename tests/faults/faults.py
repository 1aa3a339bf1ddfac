"""The faults: each puts one failure in force for a while and always undoes it.

    product_stop      SIGSTOP every product process (supervisor + descendants) HOLD_SECONDS
    product_kill      SIGKILL the product workers, KILL_ROUNDS times KILL_GAP_SECONDS apart
    user_stop         SIGSTOP every user process HOLD_SECONDS
    redis_stop        SIGSTOP the embedded redis-server HOLD_SECONDS
    postgres_restart  pg_ctl restart -m fast -w of the embedded PostgreSQL
    product_slow      the product service's answers to the order service SLOW_DELAY_SECONDS
                      late (through the system's DelayProxy) for HOLD_SECONDS

`inject()` runs one about a second into a burst and records its `FaultWindow`: when it was
in force, and what the probes saw (`evidence` proves it landed).
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from .harness import SETTINGS, System, run_command, running

__all__ = ["FAULTS", "HOLD_SECONDS", "FaultWindow", "inject", "probe"]

# How long a stop-style fault is held: longer than the order service's product call
# (1 s timeout x 2 attempts) and token check (1 s x 3 attempts).
HOLD_SECONDS = 4.0
SLOW_DELAY_SECONDS = 1.5
KILL_ROUNDS = 2
KILL_GAP_SECONDS = 1.5


@dataclass
class FaultWindow:
    """When the run's one fault was in force (time.monotonic()) and what showed it landed."""

    name: str
    started: float | None = None
    ended: float | None = None
    # What a probe saw while the fault was in force, proving it landed (a stopped service's
    # health check timing out, Redis not answering PING, /ready failing, workers killed,
    # answers delayed); `notes` has the other observations, for the report.
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def active(self) -> bool:
        return self.started is not None and self.ended is None

    def over_for(self, seconds: float) -> bool:
        return self.ended is not None and time.monotonic() >= self.ended + seconds

    @property
    def seconds(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return self.ended - self.started


async def probe(url: str, limit: float) -> tuple[str, Any]:
    """GET `url`: its status (or the exception's name) and its JSON body (or None)."""
    async with httpx.AsyncClient(timeout=limit) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            return type(exc).__name__, None
    try:
        body = response.json()
    except ValueError:
        body = None
    return str(response.status_code), body


def _stopped(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


def _describe(processes: Iterable[psutil.Process]) -> str:
    states = []
    for process in processes:
        try:
            states.append(f"{process.pid}:{process.status()}")
        except psutil.Error:
            states.append(f"{process.pid}:gone")
    return " ".join(states)


async def _hold_stopped(system: System, service: str, window: FaultWindow) -> None:
    """SIGSTOP every process of `service` for HOLD_SECONDS, then SIGCONT (workers first,
    then the supervisor, so that its health check never finds a worker still stopped)."""
    processes = system.processes(service)  # supervisor first: it stops before its workers
    system.suspend(processes)
    try:
        await asyncio.sleep(0.3)
        states = _describe(processes)
        if all(_stopped(p) for p in processes if running(p)):
            window.notes.append(f"{service} processes stopped ({states})")
        else:
            window.notes.append(f"{service} not all stopped: {states}")
        await asyncio.sleep(0.7)
        status, _ = await probe(f"{system.url(service)}/health-check/", limit=1.0)
        if status != "200":
            window.evidence.append(f"{service} /health-check/ during the fault: {status}")
        else:
            window.notes.append(f"{service} /health-check/ answered 200 while stopped")
        await asyncio.sleep(max(0.0, HOLD_SECONDS - 2.0))
    finally:
        system.resume(reversed(processes))


async def product_stop(system: System, window: FaultWindow) -> None:
    await _hold_stopped(system, "product", window)


async def user_stop(system: System, window: FaultWindow) -> None:
    await _hold_stopped(system, "user", window)


async def product_kill(system: System, window: FaultWindow) -> None:
    """SIGKILL every product worker (not the supervisor), twice 1.5 s apart; the fault ends
    when the supervisor has replacements serving again."""
    supervisor = system.supervisor("product")
    killed: list[int] = []
    for round_ in range(KILL_ROUNDS):
        if round_:
            await asyncio.sleep(KILL_GAP_SECONDS)
        for worker in system.workers("product"):
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
                killed.append(worker.pid)
    if killed:
        window.evidence.append(f"product workers killed: {killed}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = system.workers("product")
        fresh = [w.pid for w in workers if w.pid not in killed and running(w)]
        status, _ = await probe(f"{system.url('product')}/health-check/", limit=1.0)
        if len(fresh) >= int(SETTINGS["WEB_CONCURRENCY"]) and status == "200":
            window.notes.append(f"product workers replaced by {fresh}")
            break
        await asyncio.sleep(0.25)
    else:
        window.notes.append("product workers were not replaced within 30 s")
    if not supervisor.is_running():
        window.notes.append("the product supervisor died")


async def redis_stop(system: System, window: FaultWindow) -> None:
    """SIGSTOP the embedded redis-server for HOLD_SECONDS, then SIGCONT."""
    redis = system.redis_process()
    system.suspend([redis])
    try:
        await asyncio.sleep(0.5)
        port = int(system.redis_url.rsplit(":", 1)[1].split("/")[0])
        ping = await _redis_ping(port, limit=0.5)
        if ping != "PONG":
            window.evidence.append(f"redis PING during the fault: {ping}")
        status, body = await probe(f"{system.url('order')}/ready", limit=3.0)
        checks = body.get("checks", {}) if isinstance(body, dict) else {}
        if status == "503" and checks.get("redis") != "ok":
            window.evidence.append(f"order /ready during the fault: 503 checks={checks}")
        else:
            window.notes.append(f"order /ready during the fault: {status} {body}")
        await asyncio.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - (window.started or 0))))
    finally:
        system.resume([redis])


async def _redis_ping(port: int, limit: float) -> str:
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    return line.decode().strip().lstrip("+")


async def postgres_restart(system: System, window: FaultWindow) -> None:
    """`pg_ctl restart -m fast -w` of the embedded server, probing the order service's
    /ready meanwhile; afterwards the server is started again if it is not running."""
    pg_ctl, user = system.pg_ctl()
    before = system.postmaster()
    log = system.run_dir / "fault.log"
    args = [pg_ctl, "-D", str(system.pgdata), "restart", "-m", "fast", "-w", "-t", "30"]
    args += ["-l", str(system.pgdata / "log")]
    restart = asyncio.create_task(run_command(*args, log=log, limit=60, user=user))
    failed_ready: list[str] = []
    try:
        while not restart.done():
            status, _ = await probe(f"{system.url('order')}/ready", limit=3.0)
            if status != "200":
                failed_ready.append(status)
            await asyncio.sleep(0.1)
        code = await restart
        window.notes.append(f"pg_ctl restart exited {code}")
    finally:
        if not restart.done():
            restart.cancel()
        after = system.postmaster()
        if after is None or not after.is_running():
            start = [pg_ctl, "-D", str(system.pgdata), "start", "-w", "-t", "30"]
            await run_command(
                *start, "-l", str(system.pgdata / "log"), log=log, limit=60, user=user
            )
    after = system.postmaster()
    if before is not None and after is not None and after.pid != before.pid:
        window.notes.append(f"postmaster {before.pid} -> {after.pid}")
    if failed_ready:
        window.evidence.append(f"order /ready failed during the restart: {failed_ready[:5]}")


async def product_slow(system: System, window: FaultWindow) -> None:
    """Every product -> order chunk through the proxy is late by SLOW_DELAY_SECONDS (more than
    the order service's 1 s timeout) for HOLD_SECONDS."""
    proxy = system.proxy
    if proxy is None:
        raise RuntimeError("product_slow needs running_system(..., proxy_product=True)")
    proxy.delay = SLOW_DELAY_SECONDS
    try:
        await asyncio.sleep(HOLD_SECONDS)
    finally:
        proxy.delay = 0.0
    if proxy.delayed_chunks:
        window.evidence.append(f"{proxy.delayed_chunks} product answers delayed")


Fault = Callable[[System, FaultWindow], Awaitable[None]]
FAULTS: dict[str, Fault] = {
    "product_stop": product_stop,
    "product_kill": product_kill,
    "user_stop": user_stop,
    "redis_stop": redis_stop,
    "postgres_restart": postgres_restart,
    "product_slow": product_slow,
}


async def inject(
    system: System,
    window: FaultWindow,
    *,
    after: float = 1.0,
    when: Callable[[], bool] | None = None,
    wait_at_most: float = 4.0,
) -> None:
    """Wait `after` seconds (and until `when()` is true, at most `wait_at_most` seconds more),
    then put the fault `window.name` in force until it is undone."""
    await asyncio.sleep(after)
    deadline = time.monotonic() + wait_at_most
    while when is not None and time.monotonic() < deadline:
        if when():
            break
        await asyncio.sleep(0.05)
    window.started = time.monotonic()
    try:
        await FAULTS[window.name](system, window)
    finally:
        window.ended = time.monotonic()
