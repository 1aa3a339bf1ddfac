"""Console reporting shared by the checks: sections, ok/FAIL/SKIP/WARN lines, one exit code."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Report"]


class Report:
    """Collects the outcome of a run of checks and prints each one as it is recorded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.skipped: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def info(self, message: str) -> None:
        print(message, flush=True)

    def ok(self, message: str) -> None:
        self.passed.append(message)
        print(f"ok:   {message}", flush=True)

    def fail(self, message: str, details: Iterable[str] = ()) -> None:
        self.failed.append(message)
        print(f"FAIL: {message}", flush=True)
        for line in details:
            print(f"  - {line}", flush=True)

    def skip(self, message: str) -> None:
        self.skipped.append(message)
        print(f"SKIP: {message}", flush=True)

    def warn(self, message: str) -> None:
        print(f"WARN: {message}", flush=True)

    def check(self, message: str, problems: Iterable[str]) -> bool:
        """ok when `problems` is empty, otherwise one FAIL listing them."""
        found = list(problems)
        if found:
            self.fail(message, found)
        else:
            self.ok(message)
        return not found

    def finish(self) -> int:
        """Print the closing line; the process exit code (0 when nothing failed)."""
        print()
        if self.failed:
            print(f"{self.name}: {len(self.failed)} check(s) FAILED", flush=True)
            return 1
        skipped = f" ({len(self.skipped)} skipped)" if self.skipped else ""
        print(f"{self.name}: all {len(self.passed)} checks passed{skipped}", flush=True)
        return 0
