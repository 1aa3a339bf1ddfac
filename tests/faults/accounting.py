"""The stock invariants, read from the databases directly (never through the services).

- for every product: initial stock - stock now == units of it in confirmed orders
  (more taken than confirmed: stock lost; less: oversold);
- stock never below zero (the CHECK constraint exists, sampled minima and stock now >= 0);
- every held reservation (released_at IS NULL) belongs to a confirmed order with the same
  items, and every confirmed order holds its reservation;
- once settled, no order is `pending` and none is mid-delete (delete_requested_at set on an
  order that is not `cancelled`).
"""

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .harness import System

__all__ = ["Ledger", "StockSampler", "check_ledger", "ledger_line", "read_ledger", "wait_settled"]

Items = dict[str, int]  # product id -> quantity


@dataclass
class Ledger:
    stock: dict[str, int]
    confirmed: dict[str, Items]  # order id -> its items
    held: dict[str, Items]  # order id -> items of its reservation still held
    statuses: Counter[str]
    pending: int
    mid_delete: int
    stock_check_constraint: bool

    def confirmed_units(self) -> dict[str, int]:
        units: dict[str, int] = defaultdict(int)
        for items in self.confirmed.values():
            for product, quantity in items.items():
                units[product] += quantity
        return dict(units)


async def _unsettled(order_db: AsyncEngine) -> tuple[int, int]:
    async with order_db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'pending'),"
                    " count(*) FILTER (WHERE status <> 'cancelled'"
                    " AND delete_requested_at IS NOT NULL) FROM orders"
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def wait_settled(system: System, within: float) -> tuple[float | None, int, int]:
    """Poll until no order is pending or mid-delete: (seconds taken or None, pending, mid)."""
    started = time.monotonic()
    pending = mid = -1
    while time.monotonic() - started <= within:
        with contextlib.suppress(Exception):  # the server may still be coming back
            pending, mid = await _unsettled(system.engine("order_db"))
            if pending == 0 and mid == 0:
                return time.monotonic() - started, 0, 0
        await asyncio.sleep(0.5)
    return None, pending, mid


async def read_ledger(system: System) -> Ledger:
    product_db, order_db = system.engine("product_db"), system.engine("order_db")
    async with product_db.connect() as conn:
        stock = {
            str(pid): int(s)
            for pid, s in (await conn.execute(text("SELECT id, stock FROM products"))).all()
        }
        held: dict[str, Items] = defaultdict(dict)
        rows = await conn.execute(
            text(
                "SELECT r.order_id, i.product_id, i.quantity FROM reservations r"
                " LEFT JOIN reservation_items i ON i.order_id = r.order_id"
                " WHERE r.released_at IS NULL"
            )
        )
        for order_id, product_id, quantity in rows.all():
            items = held[str(order_id)]
            if product_id is not None:
                items[str(product_id)] = items.get(str(product_id), 0) + int(quantity)
        constraint = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'products'::regclass"
                " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%stock >= 0%'"
            )
        )
    async with order_db.connect() as conn:
        confirmed: dict[str, Items] = defaultdict(dict)
        rows = await conn.execute(
            text(
                "SELECT o.id, i.product_id, i.quantity FROM orders o"
                " JOIN order_items i ON i.order_id = o.id WHERE o.status = 'confirmed'"
            )
        )
        for order_id, product_id, quantity in rows.all():
            items = confirmed[str(order_id)]
            items[str(product_id)] = items.get(str(product_id), 0) + int(quantity)
        statuses = Counter(
            {
                str(status): int(n)
                for status, n in (
                    await conn.execute(text("SELECT status, count(*) FROM orders GROUP BY status"))
                ).all()
            }
        )
    pending, mid = await _unsettled(order_db)
    return Ledger(stock, dict(confirmed), dict(held), statuses, pending, mid, bool(constraint))


def check_ledger(ledger: Ledger, initial: dict[str, int], sampled_min: int | None) -> list[str]:
    """Every broken invariant, as a sentence."""
    problems: list[str] = []
    units = ledger.confirmed_units()
    for n, (product, start) in enumerate(initial.items(), start=1):
        now = ledger.stock.get(product)
        if now is None:
            problems.append(f"p{n} ({product}) is missing from the products table")
            continue
        taken, sold = start - now, units.get(product, 0)
        if taken < sold:
            problems.append(
                f"p{n} oversold by {sold - taken}: confirmed orders hold {sold} units "
                f"but only {taken} left the stock ({start} -> {now})"
            )
        elif taken > sold:
            problems.append(
                f"p{n} lost {taken - sold} units: {taken} left the stock ({start} -> {now}) "
                f"but confirmed orders hold {sold}"
            )
        if now < 0:
            problems.append(f"p{n} stock is negative: {now}")
    if not ledger.stock_check_constraint:
        problems.append("products has no CHECK (stock >= 0) constraint")
    if sampled_min is not None and sampled_min < 0:
        problems.append(f"stock was seen below zero during the burst: {sampled_min}")
    unheld = sorted(set(ledger.confirmed) - set(ledger.held))
    if unheld:
        problems.append(
            f"{len(unheld)} confirmed order(s) hold no reservation (released while still "
            f"confirmed), e.g. {unheld[0]}"
        )
    orphans = sorted(set(ledger.held) - set(ledger.confirmed))
    if orphans:
        problems.append(
            f"{len(orphans)} reservation(s) held for no confirmed order, e.g. {orphans[0]}"
        )
    mismatched = sorted(
        order
        for order in set(ledger.held) & set(ledger.confirmed)
        if ledger.held[order] != ledger.confirmed[order]
    )
    if mismatched:
        problems.append(
            f"{len(mismatched)} confirmed order(s) whose reservation has other items, "
            f"e.g. {mismatched[0]}"
        )
    if ledger.pending:
        problems.append(f"{ledger.pending} order(s) still pending")
    if ledger.mid_delete:
        problems.append(f"{ledger.mid_delete} order(s) left mid-delete")
    return problems


def ledger_line(ledger: Ledger, initial: dict[str, int]) -> str:
    """e.g. `p1 40->3 (confirmed 37)` per product, then the order statuses."""
    units = ledger.confirmed_units()
    parts = [
        f"p{n} {start}->{ledger.stock.get(product, '?')} (confirmed {units.get(product, 0)})"
        for n, (product, start) in enumerate(initial.items(), start=1)
    ]
    statuses = " ".join(f"{s}:{n}" for s, n in sorted(ledger.statuses.items()))
    return f"{', '.join(parts)}; orders {statuses}; held reservations {len(ledger.held)}"


@dataclass
class StockSampler:
    """Samples the lowest stock of any product while running (errors only counted)."""

    system: System
    interval: float = 0.2
    minimum: int | None = None
    samples: int = 0
    errors: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        engine = self.system.engine("product_db")
        while True:
            try:
                async with engine.connect() as conn:
                    value = await conn.scalar(text("SELECT min(stock) FROM products"))
                if value is not None:
                    self.samples += 1
                    self.minimum = int(value) if self.minimum is None else min(self.minimum, value)
            except Exception:
                self.errors += 1
            await asyncio.sleep(self.interval)
