"""Fuzz the three services against their own OpenAPI schemas with schemathesis.

    python -m tools.fuzz                       # the CI step: fixed seed, bounded examples
    python -m tools.fuzz --examples 200 --seed random --keep-logs

It starts a private native system (`./run_services.sh --native`) under `.run/fuzz-<hex>/`
on free ports with its own embedded PostgreSQL and Redis, registers a user and creates a
product (so ids and a bearer token exist), then runs `schemathesis run` on every schema:
each service's `/openapi.json` with the bearer token and its `/internal/openapi.json` with
the service's internal secret. It stops everything afterwards.

The checks that must pass are `CHECKS`. A failure is accepted only when an entry of the
reviewed baseline (tools/fuzz_baseline.yaml: operation, check, a text the failure shows,
and the reason) matches it; anything else fails the step. An entry that matched nothing is
named at the end, so a fixed bug's exception can be removed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses the report schemathesis just wrote
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tools.log_secrets import keep_for_scan

__all__ = ["CHECKS", "BaselineEntry", "Failure", "main", "unmatched"]

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("user", "product", "order")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
)
DEFAULT_SEED = 20261202
DEFAULT_EXAMPLES = 5
LANES = 2
BASELINE = ROOT / "tools" / "fuzz_baseline.yaml"
PASSWORD = "Fuzz-Passw0rd!"  # noqa: S105 - a throwaway account of a private system
# Every client is 127.0.0.1: the limits are raised so they do not hide the routes (429 stays
# documented on every limited route, and the check of its headers still applies).
SETTINGS = {
    "ENVIRONMENT": "development",
    "WEB_CONCURRENCY": "1",
    "NATIVE_MONITORING": "0",
    "NATIVE_WEB": "0",
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_AUTH": "1000000/minute",
    "RATE_LIMIT_LOGIN_ACCOUNT": "1000000/minute",
    "RATE_LIMIT_WRITE": "1000000/minute",
    "READY_TIMEOUT": "120",
}
_DROPPED_PREFIXES = ("USER_SERVICE_", "PRODUCT_SERVICE_", "ORDER_SERVICE_", "RATE_LIMIT_", "DB_")
_DROPPED = {"DATABASE_URL", "REDIS_URL", "RUN_DIR", "HOST", "CORS_ORIGINS", "TRUSTED_PROXIES"}


@dataclass(frozen=True)
class Failure:
    """One failed check of one operation, as schemathesis reported it."""

    operation: str
    check: str
    text: str


@dataclass(frozen=True)
class BaselineEntry:
    """A reviewed exception: failures of `check` on `operation` whose text has `contains`."""

    operation: str
    check: str
    contains: str
    reason: str

    def matches(self, failure: Failure) -> bool:
        return (
            failure.operation == self.operation
            and failure.check == self.check
            and self.contains in failure.text
        )


def load_baseline(path: Path) -> list[BaselineEntry]:
    entries = yaml.safe_load(path.read_text()) or []
    return [
        BaselineEntry(e["operation"], e["check"], e.get("contains", ""), e["reason"])
        for e in entries
    ]


def unmatched(
    failures: list[Failure], baseline: list[BaselineEntry]
) -> tuple[list[Failure], list[BaselineEntry]]:
    """The failures no entry accepts, and the entries that accepted nothing."""
    new = [f for f in failures if not any(e.matches(f) for e in baseline)]
    stale = [e for e in baseline if not any(e.matches(f) for f in failures)]
    return new, stale


# ------------------------------------------------------------------------------ system
def free_port() -> int:
    """A port the kernel considers free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(
    run_dir: Path, ports: dict[str, int], secret_values: dict[str, str]
) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED and not name.startswith(_DROPPED_PREFIXES)
    }
    env.update(SETTINGS)
    env.update(secret_values)
    env["RUN_DIR"] = str(run_dir)
    env["HOST"] = "127.0.0.1"
    for service, port in ports.items():
        env[f"{service.upper()}_SERVICE_PORT"] = str(port)
    env["PROMETHEUS_PORT"], env["ALERTMANAGER_PORT"] = str(free_port()), str(free_port())
    uv_dir = Path.home() / ".local" / "bin"
    if shutil.which("uv", path=env.get("PATH")) is None and (uv_dir / "uv").exists():
        env["PATH"] = f"{uv_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _services(command: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [str(ROOT / "run_services.sh"), command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=240,
        )


def _seed(urls: dict[str, str]) -> str:
    """Register a user and create one product; the user's access token."""
    email = f"fuzz-{secrets.token_hex(4)}@example.com"
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            f"{urls['user']}/api/v1/register/", json={"email": email, "password": PASSWORD}
        )
        answer.raise_for_status()
        token = str(answer.json()["data"]["access"])
        product = client.post(
            f"{urls['product']}/api/v1/product/",
            json={"name": "Fuzz lamp", "price": 100, "stock": 1000},
            headers={"Authorization": f"Bearer {token}"},
        )
        product.raise_for_status()
    return token


# ------------------------------------------------------------------------- schemathesis
@dataclass(frozen=True)
class Target:
    name: str  # "user", "user internal"
    base_url: str
    schema_path: str
    headers: dict[str, str]


def _targets(urls: dict[str, str], token: str, secret_values: dict[str, str]) -> list[Target]:
    targets = []
    for service in SERVICES:
        bearer = {"Authorization": f"Bearer {token}"}
        targets.append(Target(service, urls[service], "/openapi.json", bearer))
        internal = {"X-Internal-Secret": secret_values[f"{service.upper()}_SERVICE_SECRET"]}
        targets.append(
            Target(f"{service} internal", urls[service], "/internal/openapi.json", internal)
        )
    return targets


def _fetch_schema(target: Target, folder: Path) -> Path | None:
    """The target's schema saved to a file; None when it has no operations."""
    response = httpx.get(target.base_url + target.schema_path, headers=target.headers, timeout=30)
    response.raise_for_status()
    schema: dict[str, Any] = response.json()
    if not schema.get("paths"):
        return None
    path = folder / f"{target.name.replace(' ', '-')}.openapi.json"
    path.write_text(json.dumps(schema))
    return path


def _schemathesis(target: Target, schema: Path, folder: Path, seed: int, examples: int) -> Path:
    """Run schemathesis on one schema; the path of its JUnit report."""
    report = folder / f"{target.name.replace(' ', '-')}.junit.xml"
    command = [
        str(ROOT / ".venv" / "bin" / "schemathesis"),
        "run",
        str(schema),
        "--url",
        target.base_url,
        "--checks",
        ",".join(CHECKS),
        "--seed",
        str(seed),
        "--max-examples",
        str(examples),
        "--phases",
        "examples,coverage,fuzzing",
        # One thread each: hypothesis parses lambdas' sources with `ast`, which CPython 3.11
        # does not allow from two threads at once ("AST constructor recursion depth").
        "--workers",
        "1",
        "--continue-on-failure",
        "--generation-allow-x00",
        "false",
        "--request-timeout",
        "20",
        "--no-shrink",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--warnings",
        "off",
    ]
    for name, value in target.headers.items():
        command += ["--header", f"{name}: {value}"]
    log = folder / f"{target.name.replace(' ', '-')}.log"
    with log.open("wb") as out:
        subprocess.run(  # noqa: S603 - the venv's schemathesis, our arguments
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=600
        )
    return report


def read_failures(report: Path) -> list[Failure]:
    """Every failed check in a schemathesis JUnit report, one per check and operation."""
    if not report.exists():
        return [Failure("-", "report", f"no report at {report}")]
    failures = []
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own file
        operation = case.get("name", "?")
        for problem in [*case.iter("failure"), *case.iter("error")]:
            text = f"{problem.get('message', '')}\n{problem.text or ''}"
            checks = [check for check in CHECKS if _names(text, check)]
            for check in checks or ["error"]:
                failures.append(Failure(operation, check, text))
    return failures


_CHECK_TITLES = {
    "not_a_server_error": "Server error",
    "status_code_conformance": "Undocumented HTTP status code",
    "response_schema_conformance": "Response violates schema",
    "content_type_conformance": "Undocumented Content-Type",
    "response_headers_conformance": "Missing header",
    "positive_data_acceptance": "Schema-valid request rejected",
}


def _names(text: str, check: str) -> bool:
    return check in text or _CHECK_TITLES[check] in text


def _fuzz_one(target: Target, folder: Path, seed: int, examples: int) -> list[Failure]:
    schema = _fetch_schema(target, folder)
    if schema is None:
        return []
    began = time.monotonic()
    found = read_failures(_schemathesis(target, schema, folder, seed, examples))
    took = time.monotonic() - began
    print(f"fuzz: {target.name}: {len(found)} failed checks ({took:.1f} s)", flush=True)
    return found


def _fuzz_all(targets: list[Target], folder: Path, seed: int, examples: int) -> list[Failure]:
    """Two schemas at a time (the user service, busy hashing passwords, beside the rest):
    the services wait on each other's requests more than they use the CPU."""
    with ThreadPoolExecutor(max_workers=LANES) as pool:
        runs = [pool.submit(_fuzz_one, t, folder, seed, examples) for t in targets]
        return [failure for run in runs for failure in run.result()]


# --------------------------------------------------------------------------------- run
def run(run_dir: Path, seed: int, examples: int) -> list[Failure]:
    """Start the system under `run_dir`, fuzz every schema, stop it; the failed checks."""
    run_dir.mkdir(parents=True)
    ports = {service: free_port() for service in SERVICES}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    secret_values = {
        f"{name}_SECRET": secrets.token_urlsafe(32)
        for name in ("USER_SERVICE", "PRODUCT_SERVICE", "ORDER_SERVICE", "USER_SERVICE_JWT")
    }
    env = _environment(run_dir, ports, secret_values)
    try:
        _services("--native", env, run_dir / "start.log")
        token = _seed(urls)
        return _fuzz_all(_targets(urls, token, secret_values), run_dir, seed, examples)
    finally:
        _services("stop", env, run_dir / "stop.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fuzz", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seed", default=str(DEFAULT_SEED), help="an integer or 'random'")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="per operation")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    seed = secrets.randbelow(2**31) if args.seed == "random" else int(args.seed)
    print(f"fuzz: seed {seed}, {args.examples} examples per operation")
    run_dir = ROOT / ".run" / f"fuzz-{secrets.token_hex(4)}"
    try:
        failures = run(run_dir, seed, args.examples)
    except (OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        print(f"fuzz: the system did not run ({exc}); logs in {run_dir}")
        return 1
    new, stale = unmatched(failures, load_baseline(args.baseline))
    if new or args.keep_logs:
        print(f"fuzz: logs and reports kept in {run_dir}")
    else:
        keep_for_scan(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    for failure in new:
        print(f"FAILED {failure.operation}: {failure.check}\n{failure.text.strip()[:2000]}\n")
    for entry in stale:
        print(f"note: baseline entry matched nothing this run: {entry.operation} {entry.check}")
    accepted = len(failures) - len(new)
    print(f"fuzz: {len(new)} new failures, {accepted} accepted by the baseline (seed {seed})")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
