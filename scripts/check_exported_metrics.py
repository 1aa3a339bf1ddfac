"""Check that every metric a dashboard or alert uses is exported by the running services,
and, when a Prometheus URL is given, that it scrapes every service target as up.

    python scripts/check_exported_metrics.py URL [URL ...] [--prometheus URL]
"""

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

NAMES_FILE = Path(__file__).resolve().parents[1] / "monitoring" / "metric_names.txt"


def exported_names(base_url: str) -> set[str]:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def targets_up(prometheus: str, expected: int, timeout: float = 30.0) -> list[str]:
    """Wait until Prometheus reports `expected` service targets up; return the problems."""
    deadline = time.monotonic() + timeout
    problems: list[str] = ["no scrape yet"]
    while time.monotonic() < deadline and problems:
        url = f"{prometheus}/api/v1/query?query=up"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            results = json.load(response)["data"]["result"]
        services = [r for r in results if r["metric"].get("job", "").endswith("-service")]
        problems = [f"{r['metric']['job']} is down" for r in services if r["value"][1] != "1"]
        if len(services) < expected:
            problems.append(f"{len(services)} of {expected} service targets scraped")
        if problems:
            time.sleep(1)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--prometheus")
    args = parser.parse_args()
    wanted = {n.strip() for n in NAMES_FILE.read_text().splitlines() if n.strip()}
    exported: set[str] = set()
    for url in args.urls:
        exported |= exported_names(url)
    missing = sorted(wanted - exported)
    problems = [f"metric used by dashboards/alerts but not exported: {n}" for n in missing]
    if args.prometheus:
        problems += targets_up(args.prometheus, expected=len(args.urls))
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(
            f"ok: all {len(wanted)} dashboard/alert metrics are exported"
            + ("; Prometheus scrapes every service as up" if args.prometheus else "")
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
