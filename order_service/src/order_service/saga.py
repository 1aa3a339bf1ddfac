"""Placing and deleting an order: database steps and product-service calls, in turn.

Create (architecture.md, "a saga without a broker"):
1. the order is written `pending` (with its idempotency key) and committed: one statement;
2. `reserve` on the product service, idempotent per order id, so retried on failure;
3. the order becomes `confirmed` with the price snapshot (and its key's answer), committed:
   one statement.
On 404/409 the order becomes `failed` and the client gets that error. On a timeout or
5xx the stock is released (idempotent) and the order withdrawn (`cancelled`, hidden: the
contract keeps no order after a 503); if the release fails too, the order stays `pending`
for the reconciler. Either way the client gets 503.

Delete: the row is locked only to record the cancellation (`delete_requested_at`, which
is never cleared: from then on the order is gone for its owner), then the stock is released
with no lock or transaction open, then the order becomes `cancelled`. When the release's
outcome is unknown (timeout, reset, 5xx: it may have happened) the client gets 202 and the
reconciler repeats the idempotent release until it succeeds, then cancels. A recorded
cancellation is never undone, so stock the product service returned is never still counted
by a confirmed order.

The states, their transitions and who moves them are in docs/architecture.md.

No step holds a row lock or an open transaction across an HTTP call.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from order_service import service
from order_service.context import OrderContext, connection, transaction
from order_service.metrics import count_order
from order_service.models import OrderStatus
from order_service.schemas import OrderLine, OrderRead
from shop_common.errors import (
    AppError,
    Conflict,
    NotFound,
    ServiceUnavailable,
    is_database_failure,
)
from shop_contracts.product import ORDER_EXPIRED, ReservationRead

__all__ = ["Placed", "create_order", "delete_order"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Placed:
    order: OrderRead
    # True when this is the answer a request with the same idempotency key got before.
    replayed: bool = False


async def _poll(ctx: OrderContext, attempt: Callable[[], Awaitable[T]], wait_seconds: float) -> T:
    """Run `attempt` until it returns something else than None or `wait_seconds` passed."""
    deadline = time.monotonic() + wait_seconds
    while True:
        result = await attempt()
        if result is not None or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(ctx.settings.poll_interval_seconds)


async def _start_once(
    ctx: OrderContext, *, user_id: uuid.UUID, lines: Sequence[OrderLine], key: str | None
) -> service.Started | service.Replay | None:
    now, ttl = datetime.now(UTC), ctx.settings.idempotency_ttl_seconds
    bound = ctx.settings.max_units_per_product_per_user
    if not bound:
        async with connection(ctx) as conn:
            return await service.start_order(
                conn, user_id=user_id, lines=lines, key=key, now=now, key_ttl_seconds=ttl
            )
    # Under the bound a user's creates queue on a lock: the gate keeps them from holding
    # the pool's connections while they do (context.PerUserGate).
    wait = ctx.settings.gate_wait_seconds()
    async with ctx.creates.enter(user_id, wait_seconds=wait), transaction(ctx) as session:
        return await service.start_bounded_order(
            session,
            user_id=user_id,
            lines=lines,
            key=key,
            now=now,
            key_ttl_seconds=ttl,
            max_units=bound,
        )


async def _start(
    ctx: OrderContext, *, user_id: uuid.UUID, lines: Sequence[OrderLine], key: str | None
) -> service.Started | service.Replay:
    async def attempt() -> service.Started | service.Replay | None:
        return await _start_once(ctx, user_id=user_id, lines=lines, key=key)

    started = await _poll(ctx, attempt, ctx.settings.idempotency_wait_seconds)
    if started is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed",
            code="idempotency_in_progress",
        )
    if isinstance(started, service.Started):
        count_order(OrderStatus.PENDING)
    return started


async def create_order(
    ctx: OrderContext, *, user_id: uuid.UUID, lines: Sequence[OrderLine], key: str | None
) -> Placed:
    """Place the order, or give again the answer its idempotency key already got."""
    started = await _start(ctx, user_id=user_id, lines=lines, key=key)
    if isinstance(started, service.Replay):
        return Placed(service.replayed_order(started), replayed=True)
    reservation = await _reserve(ctx, started.order_id, lines)
    async with connection(ctx) as conn:
        confirmed = await service.confirm_order(
            conn,
            user_id=user_id,
            started=started,
            lines=lines,
            reservation=reservation,
            now=datetime.now(UTC),
        )
    if confirmed is None:  # reconciled or deleted meanwhile: give the stock back
        error = ServiceUnavailable(ORDER_EXPIRED, code="order_expired")
        await _release_and_fail(ctx, started.order_id, error)
        raise error
    count_order(OrderStatus.CONFIRMED)
    return Placed(confirmed)


async def _reserve(
    ctx: OrderContext, order_id: uuid.UUID, lines: Sequence[OrderLine]
) -> ReservationRead:
    """Step 2; on failure the order is failed (its stock released first when some may
    have been taken) and the error raised for the client."""
    try:
        reservation = await ctx.products.reserve(
            order_id, [(line.product_id, line.quantity) for line in lines]
        )
        service.check_reservation(lines, reservation)
    except (NotFound, Conflict) as exc:
        if exc.earlier_attempt_unknown:
            # This attempt took nothing (all or nothing), but an earlier one that timed out
            # may still have reserved: give that back before the order is failed.
            await _release_and_fail(ctx, order_id, exc)
        else:
            await _fail(ctx, order_id, exc)
        raise
    except AppError as exc:  # timeout, 5xx, refused secret: the stock may have been taken
        await _release_and_fail(ctx, order_id, exc)
        raise
    return reservation


async def _fail(ctx: OrderContext, order_id: uuid.UUID, error: AppError) -> None:
    async with connection(ctx) as conn:
        ended = await service.fail_order(conn, order_id=order_id, error=error)
    if ended is not None:
        count_order(ended)


async def _release_and_fail(ctx: OrderContext, order_id: uuid.UUID, error: AppError) -> None:
    """Give back whatever the reservation may have taken, then fail the order; if the
    release fails too, the order stays `pending` and the reconciler releases it later."""
    try:
        await ctx.products.release(order_id)
    except AppError as exc:
        logger.warning("order %s left pending for the reconciler: %s", order_id, exc.message)
        async with connection(ctx) as conn:
            await service.forget_key(conn, order_id=order_id)
        return
    await _fail(ctx, order_id, error)


async def delete_order(ctx: OrderContext, *, user_id: uuid.UUID, order_id: uuid.UUID) -> bool:
    """Record the cancellation, release the stock, cancel the order: True when all is done
    (200); False when the cancellation is recorded but the release's outcome is unknown or
    the last step failed (202): the reconciler finishes it, and nothing ever undoes it."""
    async with transaction(ctx) as session:
        await service.claim_delete(
            session, user_id=user_id, order_id=order_id, now=datetime.now(UTC)
        )
    # From here on the order is gone for its owner, whatever happens next.
    try:
        await ctx.products.release(order_id)
        async with transaction(ctx) as session:
            cancelled = await service.finish_delete(session, order_id=order_id)
    except AppError as exc:  # timeout, reset, 5xx: the release may have happened
        logger.warning("delete of order %s left to the reconciler: %s", order_id, exc.message)
        return False
    except Exception as exc:
        if not is_database_failure(exc):
            raise
        logger.warning("delete of order %s left to the reconciler: database unavailable", order_id)
        return False
    if cancelled:
        count_order(OrderStatus.CANCELLED)
    return True
