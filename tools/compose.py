"""Checks of docker-compose.yml and .env.example.

- the file renders (`docker compose config`) with the settings of .env.example, in an
  environment of its own, and refuses to render when any required `${VAR:?...}` is missing;
- .env.example defines every variable the compose file uses, secrets only as change-me-...
  placeholders, and .env is not tracked;
- services, health conditions, secrets, ports, builds and volumes are wired as intended.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from tools.external import apt_install, in_ci, run, which
from tools.report import Report
from tools.workspace import ROOT, services, tracked_files

__all__ = ["Build", "app_builds", "check_compose", "compose_command", "load_compose"]

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# Which services each one calls (it is given their secrets and waits for them).
UPSTREAM = {"user": (), "product": ("user",), "order": ("user", "product")}
MONITORING = ("prometheus", "alertmanager", "grafana")
MOUNTS = {
    "prometheus": ["./monitoring/prometheus:/etc/prometheus"],
    "alertmanager": [
        "./monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml"
    ],
    "grafana": [
        "./monitoring/grafana/provisioning:/etc/grafana/provisioning",
        "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards",
    ],
}
NAMED_VOLUMES = (
    "user-db-data",
    "product-db-data",
    "order-db-data",
    "prometheus-data",
    "grafana-data",
)

# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR.
INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?[^}]*\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)

Doc = dict[str, Any]


@dataclass(frozen=True)
class Build:
    context: str
    dockerfile: str
    args: dict[str, str]


def load_compose() -> Doc:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        doc: Doc = yaml.safe_load(fh)
    return doc


def app_builds(doc: Doc) -> dict[str, Build]:
    """The `build:` of every service that has one, by compose service name."""
    builds = {}
    for name, svc in (doc.get("services") or {}).items():
        build = svc.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if isinstance(build, dict):
            args = build.get("args") or {}
            if isinstance(args, list):  # the ["NAME=value"] form
                args = dict(str(a).partition("=")[::2] for a in args)
            builds[name] = Build(
                context=str(build.get("context", ".")),
                dockerfile=str(build.get("dockerfile", "Dockerfile")),
                args={str(k): str(v) for k, v in args.items()},
            )
    return builds


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def interpolated(doc: Doc) -> tuple[set[str], set[str]]:
    """(every variable compose interpolates, those it requires with `?`)."""
    used, required = set(), set()
    for text in _strings(doc):
        for match in INTERPOLATION.finditer(text):
            name = match["braced"] or match["named"]
            if name:
                used.add(name)
                if match["op"] in (":?", "?"):
                    required.add(name)
    return used, required


def compose_command() -> list[str] | None:
    """`docker compose` (v2) when it works, else `docker-compose`, installed with apt if need be."""
    if which("docker") and run(["docker", "compose", "version"]).ok:
        return ["docker", "compose"]
    if which("docker-compose") or (apt_install("docker-compose") and which("docker-compose")):
        return ["docker-compose"]
    return None


def _renders(command: list[str], env_file: Path) -> tuple[bool, str]:
    # A clean environment: variables exported by the caller cannot hide a missing entry.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    args = [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"]
    result = run(args, env=env)
    return result.ok, result.output


def check_rendering(report: Report, command: list[str], doc: Doc) -> None:
    version = run([*command, "version", "--short"])
    report.info(f"using: {' '.join(command)} ({version.output.strip() if version.ok else '?'})")
    _, required = interpolated(doc)
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "compose.env"
        env_file.write_text("".join(lines), encoding="utf-8")
        rendered, output = _renders(command, env_file)
        if rendered:
            report.ok("docker-compose.yml renders with .env.example")
        else:
            report.fail("docker-compose.yml does not render with .env.example", [output])
        if not required:
            report.fail(
                "docker-compose.yml requires no ${VAR:?...}: secrets must not have defaults"
            )
        rendered_without = []
        for var in sorted(required):
            env_file.write_text(
                "".join(line for line in lines if not line.startswith(f"{var}=")), "utf-8"
            )
            if _renders(command, env_file)[0]:
                rendered_without.append(f"renders although required {var} is missing")
        report.check(
            f"compose refuses to render without each of its {len(required)} required "
            f"variables: {' '.join(sorted(required))}",
            rendered_without,
        )


def check_env_example(report: Report, doc: Doc) -> None:
    values = dotenv_values(ENV_EXAMPLE)
    used, _ = interpolated(doc)
    missing = sorted(used - set(values))
    report.check(
        f".env.example defines all {len(used)} variables used by docker-compose.yml",
        [f".env.example lacks {name}" for name in missing],
    )
    report.check(
        "every secret in .env.example is a change-me-... placeholder",
        [
            f"{name} is not a change-me-... placeholder"
            for name, value in values.items()
            if name.endswith(("PASSWORD", "SECRET")) and not (value or "").startswith("change-me-")
        ],
    )
    if ".env" in tracked_files():
        report.fail(".env is tracked by git")


def _required_from_env(value: Any, var: str) -> bool:
    return str(value or "").startswith("${" + var + ":?")


def _app_problems(name: str, svc: Doc, short: str, port: int) -> Iterator[str]:
    env = svc.get("environment") or {}
    prefix = f"{short.upper()}_SERVICE_"
    if env.get("ENVIRONMENT") != "production":
        yield f"{name}: ENVIRONMENT must be production"
    database_url = str(env.get(prefix + "DATABASE_URL", ""))
    if not database_url.startswith("postgresql+asyncpg://") or (
        f"@{short}-db:5432/{short}_db" not in database_url
    ):
        yield f"{name}: {prefix}DATABASE_URL must be postgresql+asyncpg://...@{short}-db:5432/{short}_db"
    if env.get(prefix + "REDIS_URL") != f"redis://{short}-redis:6379/0":
        yield f"{name}: {prefix}REDIS_URL must point at {short}-redis"
    for secret in [f"{s.upper()}_SERVICE_SECRET" for s in (short, *UPSTREAM[short])]:
        if not _required_from_env(env.get(secret), secret):
            yield f"{name}: {secret} must come from .env as ${{{secret}:?...}}"
    if short == "user" and ":?" not in str(env.get("USER_SERVICE_JWT_SECRET", "")):
        yield f"{name}: USER_SERVICE_JWT_SECRET must be required from .env"
    for other in services():
        url = f"http://{other.compose_name}:{other.port}"
        if env.get(f"{other.name.upper()}_SERVICE_URL") != url:
            yield f"{name}: {other.name.upper()}_SERVICE_URL must be {url}"
    deps = svc.get("depends_on") or {}
    if not isinstance(deps, dict):
        yield f"{name}: depends_on must use the long form with conditions"
        deps = {}
    for dep in [f"{short}-db", f"{short}-redis", *(f"{u}-service" for u in UPSTREAM[short])]:
        if (deps.get(dep) or {}).get("condition") != "service_healthy":
            yield f"{name}: must wait for {dep} to be service_healthy"
    if f"{port}:{port}" not in [str(p) for p in svc.get("ports") or []]:
        yield f"{name}: port {port} must be published as {port}:{port}"
    if svc.get("restart") != "unless-stopped":
        yield f"{name}: restart must be unless-stopped"


def _store_problems(services_: Doc, short: str) -> Iterator[str]:
    db = services_.get(f"{short}-db") or {}
    if not str(db.get("image", "")).startswith("postgres:16"):
        yield f"{short}-db: image must be postgres:16*"
    if "pg_isready" not in str((db.get("healthcheck") or {}).get("test")):
        yield f"{short}-db: healthcheck must use pg_isready"
    if ":?" not in str((db.get("environment") or {}).get("POSTGRES_PASSWORD", "")):
        yield f"{short}-db: POSTGRES_PASSWORD must be required from .env"
    if not any(str(v).endswith(":/var/lib/postgresql/data") for v in db.get("volumes") or []):
        yield f"{short}-db: needs a volume on /var/lib/postgresql/data"
    redis = services_.get(f"{short}-redis") or {}
    if not str(redis.get("image", "")).startswith("redis:7"):
        yield f"{short}-redis: image must be redis:7*"
    if "ping" not in str((redis.get("healthcheck") or {}).get("test")):
        yield f"{short}-redis: healthcheck must be redis-cli ping"
    for store, svc in ((f"{short}-db", db), (f"{short}-redis", redis)):
        if "ports" in svc:
            yield f"{store}: must not publish ports"


def _monitoring_problems(doc: Doc) -> Iterator[str]:
    services_ = doc.get("services") or {}
    for name, wanted in MOUNTS.items():
        volumes = [str(v) for v in (services_.get(name) or {}).get("volumes") or []]
        for mount in wanted:
            if not any(v.startswith(mount) for v in volumes):
                yield f"{name}: missing mount {mount}"
    grafana = services_.get("grafana") or {}
    if ":?" not in str((grafana.get("environment") or {}).get("GF_SECURITY_ADMIN_PASSWORD", "")):
        yield "grafana: admin password must be required from .env"
    if "${GRAFANA_PORT:-3030}:3000" not in [str(p) for p in grafana.get("ports") or []]:
        yield "grafana: port must be ${GRAFANA_PORT:-3030}:3000"
    named = set(doc.get("volumes") or {})
    for volume in NAMED_VOLUMES:
        if volume not in named:
            yield f"named volume {volume} missing"


def structure_problems(doc: Doc) -> list[str]:
    services_ = doc.get("services") or {}
    expected = {s.compose_name for s in services()} | set(MONITORING)
    expected |= {f"{s.name}-{kind}" for s in services() for kind in ("db", "redis")}
    problems: list[str] = []
    if set(services_) != expected:
        problems.append(
            f"services differ: missing {sorted(expected - set(services_))}, "
            f"unexpected {sorted(set(services_) - expected)}"
        )
    for s in services():
        svc = services_.get(s.compose_name) or {}
        problems += _app_problems(s.compose_name, svc, s.name, s.port)
        problems += _store_problems(services_, s.name)
    problems += _monitoring_problems(doc)
    return problems


def check_compose(report: Report) -> Doc:
    """Every check of this module; returns the parsed compose file for the Dockerfile checks."""
    doc = load_compose()
    report.section("docker compose")
    command = compose_command()
    if command:
        check_rendering(report, command, doc)
    elif in_ci():
        report.fail("neither 'docker compose' nor 'docker-compose' is available (nor installable)")
    else:
        report.skip("neither 'docker compose' nor 'docker-compose' is available (nor installable)")

    report.section(".env.example")
    check_env_example(report, doc)

    report.section("compose structure")
    report.check(
        "services, health conditions, secrets, URLs, ports and volumes are wired as intended",
        structure_problems(doc),
    )
    for mounts in MOUNTS.values():
        for source in (mount.split(":")[0] for mount in mounts):
            if not (ROOT / source).exists():
                report.warn(f"{source}, mounted by docker-compose.yml, does not exist")
    return doc
