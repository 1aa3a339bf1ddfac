"""Facts about this repository the checks share: its root, workspace members, services, files."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["ROOT", "Service", "services", "tracked_files", "workspace_members"]

ROOT = Path(__file__).resolve().parent.parent

# The port of each service, as in docs/conventions.md (compose, Dockerfile and CI must agree).
PORTS = {"user": 8001, "product": 8002, "order": 8003}


@dataclass(frozen=True)
class Service:
    """One service: `user` lives in `user_service/`, is the package `user-service`, ..."""

    name: str
    port: int

    @property
    def directory(self) -> str:
        return f"{self.name}_service"

    @property
    def package(self) -> str:
        return f"{self.name}-service"

    @property
    def compose_name(self) -> str:
        return f"{self.name}-service"


@cache
def workspace_members() -> tuple[str, ...]:
    """The member directories of the uv workspace (root pyproject.toml)."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        members: list[str] = tomllib.load(fh)["tool"]["uv"]["workspace"]["members"]
    return tuple(members)


@cache
def services() -> tuple[Service, ...]:
    """The workspace members named `<name>_service`, in the order of PORTS."""
    names = {m.removesuffix("_service") for m in workspace_members() if m.endswith("_service")}
    if names != set(PORTS):
        raise RuntimeError(f"workspace services {sorted(names)} differ from {sorted(PORTS)}")
    return tuple(Service(name, port) for name, port in PORTS.items())


@cache
def tracked_files() -> tuple[str, ...]:
    """Paths git tracks (relative to the root), or every file when this is no git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return tuple(
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and ".git" not in p.parts and ".venv" not in p.parts
        )
    return tuple(sorted(name for name in out.decode().split("\0") if name))
