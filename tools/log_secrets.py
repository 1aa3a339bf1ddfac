"""Fails when a log written by the test run holds a secret, a token or a password hash.

    python -m tools.log_secrets LOG_DIR [LOG_DIR ...] [--secrets-root DIR] [--tests-root DIR]

What it looks for, in every file below the LOG_DIRs:
- every secret the run used, by value: the `NAME=value` lines of each `secrets.env` below
  `--secrets-root` (the native runs' generated secrets), the `*_SECRET*` variables of this
  process's environment, and the `*SECRET*` / `*PASSWORD*` string constants of the test
  modules below `--tests-root` (read from their syntax tree, never imported);
- any token by shape, whoever made it: a JWT (`eyJ...`), a bearer credential, and an argon2
  hash (`$argon2id$v=...`).

A hit is printed as file, line and kind, never with the value. Exit status 1 on any hit.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Hit",
    "find_hits",
    "keep_for_scan",
    "needles_from_secret_files",
    "needles_from_tests",
]

MIN_NEEDLE = 8
SHAPES = {
    "JWT": re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
    "bearer credential": re.compile(r"(?i)bearer\s+[\w.~+/-]{20,}"),
    "argon2 hash": re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$"),
}
_CONSTANT_NAME = re.compile(r"SECRET|PASSWORD", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    path: Path
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def keep_for_scan(run_dir: Path) -> None:
    """Copy a native run's logs and secrets to `$TEST_LOGS_DIR/<run>/` before the run's folder
    is removed (./run_unit_test.sh sets it, then scans it). Nothing happens when it is unset."""
    target_root = os.environ.get("TEST_LOGS_DIR")
    if not target_root:
        return
    target = Path(target_root) / run_dir.name
    target.mkdir(parents=True, exist_ok=True)
    for name in ("logs", "secrets.env", "start.log", "teardown.log", "fault.log"):
        source = run_dir / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy(source, target / name)


def needles_from_secret_files(root: Path) -> dict[str, str]:
    """`{value: name}` of every `NAME=value` line in the `secrets.env` files below `root`."""
    found: dict[str, str] = {}
    for file in root.rglob("secrets.env"):
        for line in file.read_text(errors="replace").splitlines():
            name, sep, value = line.partition("=")
            if sep and len(value.strip()) >= MIN_NEEDLE:
                found[value.strip()] = f"{name.strip()} ({file.parent.name})"
    return found


def needles_from_environment() -> dict[str, str]:
    return {
        value: name
        for name, value in os.environ.items()
        if "_SECRET" in name and len(value) >= MIN_NEEDLE
    }


def needles_from_tests(root: Path) -> dict[str, str]:
    """`{value: name}` of the test modules' secret and password constants."""
    found: dict[str, str] = {}
    for module in root.glob("*/tests/**/*.py"):
        if ".venv" in module.parts:
            continue
        tree = ast.parse(module.read_text(), filename=str(module))
        for name, value in _string_constants(tree):
            if _CONSTANT_NAME.search(name) and len(value) >= MIN_NEEDLE:
                found[value] = f"{name} ({module.name})"
    return found


def _string_constants(tree: ast.Module) -> Iterator[tuple[str, str]]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        text = _evaluate(value)
        if isinstance(target, ast.Name) and text is not None:
            yield target.id, text


def _evaluate(node: ast.expr) -> str | None:
    """A string built from literals with + and * ("a-" + "k" * 40), else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(node.left), _evaluate(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        text, times = _evaluate(node.left), node.right
        if text is not None and isinstance(times, ast.Constant) and isinstance(times.value, int):
            return text * times.value
    return None


def find_hits(files: Iterable[Path], needles: dict[str, str]) -> list[Hit]:
    hits: list[Hit] = []
    for file in files:
        with file.open(errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                hits.extend(Hit(file, number, kind) for kind in _kinds(line, needles))
    return hits


def _kinds(line: str, needles: dict[str, str]) -> Iterator[str]:
    for kind, shape in SHAPES.items():
        if shape.search(line):
            yield kind
    for value, name in needles.items():
        if value in line:
            yield f"the value of {name}"


def log_files(directories: Iterable[Path]) -> list[Path]:
    return sorted(
        path
        for directory in directories
        if directory.exists()
        for path in directory.rglob("*")
        if path.is_file() and path.name != "secrets.env" and path.suffix in {".log", ".txt", ""}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("logs", type=Path, nargs="+")
    parser.add_argument("--secrets-root", type=Path, default=Path(".run"))
    parser.add_argument("--tests-root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    needles = {
        **needles_from_tests(args.tests_root),
        **needles_from_environment(),
        **needles_from_secret_files(args.secrets_root),
    }
    files = log_files(args.logs)
    hits = find_hits(files, needles)
    for hit in hits:
        sys.stdout.write(f"{hit}\n")
    sys.stdout.write(
        f"log_secrets: {len(files)} log files, {len(needles)} known secrets, {len(hits)} hits\n"
    )
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
