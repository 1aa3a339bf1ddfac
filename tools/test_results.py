"""Totals of the pytest runs of `./run_unit_test.sh`, read from their JUnit XML reports.

    python -m tools.test_results DIR     # prints "PASSED FAILED" summed over DIR/*.xml

Failed counts failures and errors; skipped and expected failures count as neither.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from xml.etree import ElementTree

__all__ = ["Totals", "totals"]


class Totals:
    def __init__(self, passed: int = 0, failed: int = 0) -> None:
        self.passed = passed
        self.failed = failed


def _suite_counts(suite: ElementTree.Element) -> tuple[int, int]:
    def count(name: str) -> int:
        return int(suite.get(name, "0"))

    failed = count("failures") + count("errors")
    return count("tests") - failed - count("skipped"), failed


def totals(directory: Path) -> Totals:
    result = Totals()
    for report in sorted(directory.glob("*.xml")):
        root = ElementTree.parse(report).getroot()  # noqa: S314 - our own pytest's report
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for suite in suites:
            passed, failed = _suite_counts(suite)
            result.passed += passed
            result.failed += failed
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    found = totals(args.directory)
    sys.stdout.write(f"{found.passed} {found.failed}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
