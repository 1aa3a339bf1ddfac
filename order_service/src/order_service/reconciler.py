"""The reconciler: finishes what a crash or an outage left half done, so no stock is lost.

Every `reconcile_interval_seconds` each replica runs `reconcile_once`:
- a `pending` order untouched for `reconcile_grace_seconds` (its create died between
  steps, or could not release after a product-service failure) gets its stock released
  (idempotent, harmless if nothing was reserved) and it is withdrawn (`cancelled`: hidden
  from its user, as the contract keeps no order after a 503);
- a recorded cancellation unfinished for as long (the release's outcome was unknown and
  the client got 202, or the process died) is finished: release, then `cancelled`;
- idempotency keys past their time to live are forgotten.

Replicas do not race: the claiming transaction takes a PostgreSQL advisory lock
(`pg_try_advisory_xact_lock`; a replica that misses it skips this round) and locks the
candidate rows `FOR UPDATE SKIP LOCKED`. Claimed orders are stamped with the claim time,
so no one picks them up again for a grace period, and the claim is committed before any
HTTP call is made. A release that fails is counted and retried a grace period later.

The reconciler only ever releases: it never confirms an order, and never undoes a recorded
cancellation. After a fault ends, everything it owns is settled within
`reconcile_grace_seconds + reconcile_interval_seconds` plus one release call
(docs/architecture.md, "Convergence").
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from order_service import repository, service
from order_service.context import OrderContext, connection, transaction
from order_service.metrics import count_order, count_reconciled
from order_service.models import OrderStatus
from shop_common.errors import AppError, ServiceUnavailable, is_database_failure
from shop_common.logs import use_request_id

__all__ = ["ADVISORY_LOCK_KEY", "ReconcileReport", "reconcile_once", "run_reconciler"]

logger = logging.getLogger(__name__)
# An arbitrary constant naming "the order reconciler" among advisory locks.
ADVISORY_LOCK_KEY = 0x0_5E_0D_E2_2E_C0


@dataclass
class ReconcileReport:
    released: list[uuid.UUID] = field(default_factory=list)
    errors: list[uuid.UUID] = field(default_factory=list)
    # True when another replica held the lock and this round did nothing.
    skipped: bool = False


@dataclass(frozen=True)
class _Claimed:
    pending: list[uuid.UUID]
    deletes: list[uuid.UUID]


async def _claim(ctx: OrderContext, now: datetime) -> _Claimed | None:
    cutoff = now - timedelta(seconds=ctx.settings.reconcile_grace_seconds)
    limit = ctx.settings.reconcile_batch_size
    async with transaction(ctx) as session:
        if not await repository.try_advisory_lock(session, ADVISORY_LOCK_KEY):
            return None
        pending = await repository.claim_stale_pending(
            session, untouched_since=cutoff, now=now, limit=limit
        )
        deletes = await repository.claim_abandoned_deletes(
            session, requested_before=cutoff, now=now, limit=limit
        )
        expired = now - timedelta(seconds=ctx.settings.idempotency_ttl_seconds)
        await repository.purge_expired_keys(session, created_before=expired)
    return _Claimed(pending, deletes)


async def _release(ctx: OrderContext, order_id: uuid.UUID, report: ReconcileReport) -> bool:
    try:
        await ctx.products.release(order_id)
    except AppError as exc:
        logger.warning("reconciler could not release order %s: %s", order_id, exc.message)
        count_reconciled("error")
        report.errors.append(order_id)
        return False
    count_reconciled("released")
    report.released.append(order_id)
    return True


async def _settle_pending(ctx: OrderContext, order_id: uuid.UUID, report: ReconcileReport) -> None:
    if not await _release(ctx, order_id, report):
        return
    abandoned = ServiceUnavailable("The order was abandoned before it was confirmed")
    async with connection(ctx) as conn:
        ended = await service.fail_order(conn, order_id=order_id, error=abandoned)
    if ended is not None:
        count_order(ended)


async def _settle_delete(ctx: OrderContext, order_id: uuid.UUID, report: ReconcileReport) -> None:
    if not await _release(ctx, order_id, report):
        return
    async with transaction(ctx) as session:
        cancelled = await service.finish_delete(session, order_id=order_id)
    if cancelled:
        count_order(OrderStatus.CANCELLED)


async def reconcile_once(ctx: OrderContext, *, now: datetime | None = None) -> ReconcileReport:
    """One round: release and settle what was abandoned before `now` minus the grace."""
    claimed = await _claim(ctx, now or datetime.now(UTC))
    if claimed is None:
        return ReconcileReport(skipped=True)
    report = ReconcileReport()
    for order_id in claimed.pending:
        await _settle_pending(ctx, order_id, report)
    for order_id in claimed.deletes:
        await _settle_delete(ctx, order_id, report)
    if report.released or report.errors:
        logger.info(
            "reconciled %d order(s), %d release(s) failed",
            len(report.released),
            len(report.errors),
        )
    return report


async def _loop(ctx: OrderContext) -> None:
    while True:
        await asyncio.sleep(ctx.settings.reconcile_interval_seconds)
        with use_request_id(f"reconcile-{uuid.uuid4().hex[:12]}"):
            try:
                await reconcile_once(ctx)
            except Exception as exc:  # a bad round must not end the loop
                if not is_database_failure(exc):
                    logger.exception("reconciler round failed")
                    continue
                # Expected while the database restarts: one line, the next round retries.
                count_reconciled("error")
                logger.warning(
                    "reconciler round failed: database unavailable (%s)", type(exc).__name__
                )


@asynccontextmanager
async def run_reconciler(ctx: OrderContext) -> AsyncIterator[asyncio.Task[None]]:
    """Run the reconciler loop in the background until the block ends."""
    task = asyncio.create_task(_loop(ctx), name="order-reconciler")
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
