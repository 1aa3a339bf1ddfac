"""The scaling check: a selective search and the first browse page at N and at 10N products.

50 products whose name holds a tag of this run are inserted, then both requests are timed
(the median of SAMPLES sequential requests, after WARM_UP) on the catalogue as it is, N rows.
Then 9N filler products, like the benchmark's own and without the tag, are inserted and both
are timed again. The rows go straight into the product database with one INSERT ... SELECT
generate_series each (the API would take an hour for 90,000), so any trigger on the table
runs as for any writer; ANALYZE then gives the planner the statistics autovacuum would. At the
end every row the check inserted is deleted again (with the triggers), so the system is left
as it was found.
"""

import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

__all__ = ["SCALE", "Scaling", "measure_scaling", "scaling_report"]

SCALE = 10
MATCHES = 50
SAMPLES, WARM_UP = 21, 3
TARGET = 2.0
# Rows like the benchmark's own products ($4 is its list of words).
INSERT = (
    "INSERT INTO products (id, creator_id, name, description, price, stock)"
    " SELECT gen_random_uuid(), $1, $2 || g, 'A ' || ($4::text[])[1 + g % cardinality($4)]"
    " || ' item for the benchmark, number ' || g || '.', 100 + (g * 7919) % 99900, g % 50"
    " FROM generate_series(1, $3) g"
)


@dataclass
class Scaling:
    """Median milliseconds of each request at `rows` and at `rows_after` products."""

    rows: int
    rows_after: int
    before: dict[str, float]
    after: dict[str, float]

    def ratio(self, name: str) -> float:
        return self.after[name] / self.before[name] if self.before[name] else 0.0


async def _median_ms(session: aiohttp.ClientSession, url: str, expect: int | None) -> float:
    """The median time of SAMPLES sequential GETs of `url` (after WARM_UP), checking that
    each answers 200 with `expect` matches when given."""
    times: list[float] = []
    for index in range(WARM_UP + SAMPLES):
        started = time.perf_counter()
        async with session.get(url) as response:
            body: dict[str, Any] = await response.json()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or (expect is not None and body.get("count") != expect):
            raise SystemExit(f"scaling check: GET {url} -> {response.status} {body}")
        if index >= WARM_UP:
            times.append(elapsed)
    return statistics.median(times)


async def _time_both(product_url: str, tag: str) -> dict[str, float]:
    requests = {
        f"`q` matching {MATCHES} products": (f"/api/v1/product/?q={tag}", MATCHES),
        "first browse page (default sort, no filter)": ("/api/v1/product/", None),
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        return {
            name: await _median_ms(session, product_url + path, expect)
            for name, (path, expect) in requests.items()
        }


async def _insert(conn: Any, creator: uuid.UUID, prefix: str, count: int, words: list[str]) -> None:
    await conn.execute(INSERT, creator, prefix, count, words)
    await conn.execute("ANALYZE products")


async def measure_scaling(product_url: str, database_url: str, words: list[str]) -> Scaling:
    """Time both requests at the catalogue's size and at SCALE times it (see the module)."""
    tag, creator = f"needle{uuid.uuid4().hex[:8]}", uuid.uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        await _insert(conn, creator, f"bench {tag} ", MATCHES, words)
        rows = int(await conn.fetchval("SELECT count(*) FROM products"))
        before = await _time_both(product_url, tag)
        await _insert(conn, creator, f"bench filler {creator.hex[:8]} ", rows * (SCALE - 1), words)
        rows_after = int(await conn.fetchval("SELECT count(*) FROM products"))
        after = await _time_both(product_url, tag)
    finally:
        await conn.execute("DELETE FROM products WHERE creator_id = $1", creator)
        await conn.close()
    return Scaling(rows, rows_after, before, after)


def scaling_report(result: Scaling) -> tuple[list[str], dict[str, Any]]:
    """The check's table (Markdown lines) and its figures for the JSON report."""
    lines = [
        f"Scaling check: median of {SAMPLES} sequential requests at {result.rows:,} and at "
        f"{result.rows_after:,} products:",
        "",
        "| request | ms at N | ms at 10N | ratio 10N/N | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, before in result.before.items():
        ratio = result.ratio(name)
        met = "yes" if ratio <= TARGET else "**no**"
        lines.append(
            f"| {name} | {before:.1f} | {result.after[name]:.1f} | {ratio:.2f} "
            f"| <= {TARGET:g}x | {met} |"
        )
    figures = {
        "rows": result.rows,
        "rows_after": result.rows_after,
        "median_ms": {"before": result.before, "after": result.after},
        "ratio": {name: result.ratio(name) for name in result.before},
        "target": TARGET,
    }
    return lines, figures
