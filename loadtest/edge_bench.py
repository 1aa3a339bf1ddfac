"""What the shared edge costs: CPU per request of one trivial route, with and without it.

    python loadtest/edge_bench.py --port 45001 [--duration 10] [--rounds 3] [--profile DIR]

The same JSON route is served twice, each time by `python -m shop_common.serve` with one
worker (uvloop, httptools, multiprocess metrics as deployed): once by a plain FastAPI app
(`bare_app`) and once by `shop_common.app.create_service_app` (`edge_app`: every layer of
the edge, the access log line and the metrics). wrk (`-t1 -c16`) drives each for a warm-up
and then a fixed duration; the server's CPU (utime + stime from /proc/<pid>/stat) over that
duration, divided by the requests wrk counted, is its CPU per request. The two alternate
`--rounds` times; the edge's cost is the difference of the medians. With `--profile DIR`,
py-spy samples the edge app during its last run (`--nonblocking`) and leaves its collapsed
stacks in DIR.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI

__all__ = ["bare_app", "edge_app", "main"]

HERE = Path(__file__).resolve().parent
VARIANTS = ("bare", "edge")
WRK_THREADS, WRK_CONNECTIONS = 1, 16
TICKS = os.sysconf("SC_CLK_TCK")
_REQUESTS = re.compile(r"(\d+) requests in")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")

router = APIRouter()


@router.get("/ping/")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


def bare_app() -> FastAPI:
    """The route on its own: FastAPI's routing and serialisation, nothing of ours."""
    app = FastAPI()
    app.include_router(router)
    return app


def edge_app() -> FastAPI:
    """The same route behind everything `create_service_app` puts around a service's."""
    from pydantic import SecretStr

    from shop_common.app import create_service_app
    from shop_common.settings import ServiceSettings

    settings = ServiceSettings(
        service_name="edge",
        environment="development",
        database_url=SecretStr("postgresql+asyncpg://edge@127.0.0.1:1/edge"),  # never used
        redis_url=SecretStr("redis://127.0.0.1:1/0"),
    )
    return create_service_app(settings, routers=[router], description="edge benchmark")


@dataclass
class Sample:
    variant: str
    requests: int
    cpu_seconds: float

    @property
    def ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def serving(variant: str, port: int, log_level: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryDirectory(prefix="edge-metrics-") as metrics_dir:
        path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
        # Multiprocess metrics, as every deployment runs them (several workers).
        env = {**os.environ, "PYTHONPATH": path, "LOG_LEVEL": log_level}
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        env.pop("INTERNAL_PORT", None)
        with _server(variant, port, env) as process:
            yield process


@contextmanager
def _server(variant: str, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "shop_common.serve", f"edge_bench:{variant}_app"]
    command += ["--port", str(port), "--workers", "1"]
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)  # noqa: S603
    try:
        _wait_up(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_up(port: int, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the app exited at start-up (run its command by hand to see why)")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the app did not come up on port {port}")


def wrk(port: int, seconds: int) -> int:
    """Requests wrk completed in `seconds`; every answer must be a 2xx."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s"]
    command.append(f"http://127.0.0.1:{port}/ping/")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
    failed = _NON_2XX.search(output)
    if failed:
        raise SystemExit(f"{failed.group(1)} answers were not 2xx:\n{output}")
    found = _REQUESTS.search(output)
    if found is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    return int(found.group(1))


def measure(variant: str, args: argparse.Namespace, profile: Path | None) -> Sample:
    with serving(variant, args.port, args.log_level) as process:
        wrk(args.port, args.warmup)
        spy = _start_py_spy(process.pid, args.duration, profile) if profile else None
        before = cpu_seconds(process.pid)
        requests = wrk(args.port, args.duration)
        after = cpu_seconds(process.pid)
        if spy is not None:
            spy.wait(timeout=60)
    return Sample(variant, requests, after - before)


def _start_py_spy(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    command = ["py-spy", "record", "--nonblocking", "--format", "raw", "-r", "200"]
    command += ["-d", str(seconds), "-p", str(pid), "-o", str(out / "edge.collapsed")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603, S607


def report(samples: list[Sample]) -> str:
    lines = ["| round | variant | requests | CPU s | CPU ms/request |", "|---|---|---:|---:|---:|"]
    for index, sample in enumerate(samples):
        lines.append(
            f"| {index // len(VARIANTS) + 1} | {sample.variant} | {sample.requests} "
            f"| {sample.cpu_seconds:.2f} | {sample.ms_per_request:.4f} |"
        )
    medians = {
        v: statistics.median(s.ms_per_request for s in samples if s.variant == v) for v in VARIANTS
    }
    lines.append("")
    lines.append(
        f"median bare {medians['bare']:.4f} ms, edge {medians['edge']:.4f} ms: "
        f"the edge costs {medians['edge'] - medians['bare']:.4f} ms of CPU per request"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="INFO", help="INFO writes the access log line")
    parser.add_argument("--profile", type=Path, help="py-spy the last edge run into this folder")
    args = parser.parse_args()
    samples: list[Sample] = []
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            last = round_ == args.rounds - 1 and variant == "edge"
            samples.append(measure(variant, args, args.profile if last else None))
            print(f"{variant}: {samples[-1].ms_per_request:.4f} ms/request", file=sys.stderr)
    print(report(samples))


if __name__ == "__main__":
    main()
