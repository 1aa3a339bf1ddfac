"""Checks of docker-compose.yml and .env.example (and of a real .env, when there is one).

- the file renders (`docker compose config`) with the settings of .env.example, in an
  environment of its own, and refuses to render when any required `${VAR:?...}` is missing;
- .env.example defines every variable the compose file uses, secrets only as change-me-...
  placeholders, and .env is not tracked; a .env that exists holds no placeholder and no
  secret shorter than 32 characters;
- the rules of tools.compose_rules (wiring, exact image tags, database roles, Redis ACL
  users, ports, Prometheus targets, the placeholder guard), and a self-test that breaks a
  copy of the file in known ways and expects each break to be refused.
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

from tools.compose_rules import dotenv_problems, rule_groups, self_test_problems
from tools.external import apt_install, in_ci, run, which
from tools.report import Report
from tools.workspace import ROOT, tracked_files

__all__ = ["Build", "app_builds", "check_compose", "compose_command", "load_compose"]

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOTENV = ROOT / ".env"
PROMETHEUS_CONFIG = ROOT / "monitoring" / "prometheus" / "prometheus.yml"

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


def check_dotenv(report: Report) -> None:
    """A real .env (never committed) must not start the stack with placeholder secrets."""
    if not DOTENV.exists():
        report.info("no .env here: nothing to check (run_services.sh --docker writes one)")
        return
    report.check(
        ".env: no secret is a change-me placeholder or shorter than 32 characters",
        dotenv_problems(dotenv_values(DOTENV)),
    )


def _load_scrape_config() -> Doc:
    with PROMETHEUS_CONFIG.open(encoding="utf-8") as fh:
        scrape: Doc = yaml.safe_load(fh)
    return scrape


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

    check_dotenv(report)

    report.section("compose structure")
    scrape = _load_scrape_config()
    for title, problems in rule_groups(doc, scrape).items():
        report.check(title, problems)
    report.check(
        "self-test: each known-bad variant of the compose file is refused",
        self_test_problems(doc, scrape),
    )
    return doc
