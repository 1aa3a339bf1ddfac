"""Business rules of the order service, one database step per function.

Each function runs inside one transaction it is given and only flushes. The saga and the
reconciler (`saga.py`, `reconciler.py`) chain these steps with product-service calls in
between, committing after each; reads run in the request's own transaction.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from order_service import repository
from order_service.errors import OrderLimitExceeded
from order_service.models import Order, OrderStatus
from order_service.schemas import OrderItemRead, OrderLine, OrderRead, lines_hash
from shop_common.errors import AppError, NotFound, ServiceUnavailable, ValidationFailed
from shop_common.schemas import Page, Pagination
from shop_contracts.product import ReservationRead

__all__ = [
    "Replay",
    "ReplayedError",
    "Started",
    "check_holdings",
    "check_reservation",
    "claim_delete",
    "confirm_order",
    "fail_order",
    "finish_delete",
    "forget_key",
    "get_order",
    "list_orders",
    "replayed_order",
    "start_order",
]


@dataclass(frozen=True)
class Started:
    """A new pending order, committed before its stock is reserved."""

    order_id: uuid.UUID
    # Whether an idempotency key is linked to it (its outcome is then saved for replays).
    keyed: bool = True


@dataclass(frozen=True)
class Replay:
    """The final outcome already given to a request with the same idempotency key: the
    order (status 201) or the error (its status, and its `AppError.body()`)."""

    status_code: int
    body: dict[str, Any]


class ReplayedError(AppError):
    """An error outcome given before under the same idempotency key, given again."""

    def __init__(self, replay: Replay) -> None:
        super().__init__(
            replay.body.get("message"),
            code=replay.body.get("code"),
            details=replay.body.get("details"),
        )
        self.status_code = replay.status_code


def replayed_order(replay: Replay) -> OrderRead:
    """The order of a replayed 201, or the replayed error raised again."""
    if replay.status_code != 201:
        raise ReplayedError(replay)
    # Rows written before the outcome was stored bare kept the whole envelope.
    return OrderRead.model_validate(replay.body.get("data", replay.body))


def order_read(order: Order) -> OrderRead:
    return OrderRead.model_validate(order, from_attributes=True)


def _not_found() -> NotFound:
    return NotFound("Order not found", code="order_not_found")


def _visible_to(order: Order | None, user_id: uuid.UUID) -> Order:
    """The order if `user_id` may see it; someone else's order does not exist for them,
    and neither does one whose cancellation is recorded (deleted, or being deleted)."""
    if (
        order is None
        or order.user_id != user_id
        or order.status == OrderStatus.CANCELLED
        or order.delete_requested_at is not None
    ):
        raise _not_found()
    return order


async def start_order(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
    key: str | None,
    now: datetime,
    key_ttl_seconds: int,
    max_units: int = 0,
) -> Started | Replay | None:
    """Write the pending order, claiming `key` for it; a replay when the key has an answer;
    None while another request holding the key is still running.

    A new order is refused (409 `order_limit_exceeded`; the transaction rolls back, so no
    order and no key are kept) when it would take the user past `max_units` of a product in
    live orders; 0 is no bound.
    """
    if key is None:
        order_id = await repository.create_order(session, user_id=user_id, lines=lines)
    else:
        expired = now - timedelta(seconds=key_ttl_seconds)
        await repository.delete_expired_key(
            session, user_id=user_id, key=key, created_before=expired
        )
        request_hash = lines_hash(list(lines))
        if not await repository.insert_key(
            session, user_id=user_id, key=key, request_hash=request_hash
        ):
            return await _answer_for_key(
                session, user_id=user_id, key=key, request_hash=request_hash
            )
        order_id = await repository.create_order(session, user_id=user_id, lines=lines)
        await repository.link_key(session, user_id=user_id, key=key, order_id=order_id)
    if max_units:
        await _within_bound(
            session, order_id=order_id, user_id=user_id, lines=lines, limit=max_units
        )
    return Started(order_id, keyed=key is not None)


async def _within_bound(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
    limit: int,
) -> None:
    # The lock comes last, once the order is written, so it is held for one query and the
    # commit only: the user's next create waits for it, then counts this order too, so two
    # creates at once cannot both pass.
    await repository.lock_user_orders(session, user_id)
    held = await repository.units_held(
        session,
        user_id=user_id,
        product_ids=[line.product_id for line in lines],
        besides=order_id,
    )
    check_holdings(lines, held, limit)


def check_holdings(lines: Sequence[OrderLine], held: dict[uuid.UUID, int], limit: int) -> None:
    """Refuse an order that would take its user past `limit` units of a product `held` in
    their other live orders: with no payment step, this is what keeps a few accounts from
    taking a product's whole stock."""
    over = [
        {
            "product_id": str(line.product_id),
            "requested": line.quantity,
            "held": held.get(line.product_id, 0),
            "limit": limit,
        }
        for line in lines
        if held.get(line.product_id, 0) + line.quantity > limit
    ]
    if over:
        raise OrderLimitExceeded(
            f"This order would take you past {limit} units of one product in your pending and "
            "confirmed orders",
            details=over,
        )


async def _answer_for_key(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, request_hash: str
) -> Replay | None:
    record = await repository.get_key(session, user_id=user_id, key=key)
    if record is None:  # freed since our insert: the caller tries again
        return None
    if record.request_hash != request_hash:
        raise ValidationFailed(
            "This Idempotency-Key was used with another request body",
            code="idempotency_key_reused",
            details=[
                {"loc": ["header", "Idempotency-Key"], "msg": "Key already used for another order"}
            ],
        )
    if record.response_status is None or record.response_body is None:
        return None
    return Replay(record.response_status, record.response_body)


def check_reservation(lines: Sequence[OrderLine], reservation: ReservationRead) -> None:
    """Refuse a reservation that is not exactly what was asked (a product-service bug)."""
    asked = {(line.product_id, line.quantity) for line in lines}
    got = {(item.product_id, item.quantity) for item in reservation.items}
    if asked != got or len(reservation.items) != len(lines):
        raise ServiceUnavailable(
            "The product service reserved something else than was ordered",
            code="product_service_unavailable",
        )


async def confirm_order(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    reservation: ReservationRead,
    keyed: bool = True,
) -> OrderRead | None:
    """Confirm the pending order with the reserved price snapshot; None when it is no longer
    pending (reconciled or deleted meanwhile), in which case the reservation must go back.
    With `keyed`, the answer is saved for replays of the order's idempotency key."""
    rows = await repository.confirm_order(
        session,
        order_id=order_id,
        total=sum(item.unit_price * item.quantity for item in reservation.items),
        snapshot=[(item.product_id, item.name, item.unit_price) for item in reservation.items],
    )
    if not rows:
        return None
    first = rows[0]
    read = OrderRead(
        id=first.id,
        user_id=first.user_id,
        status=first.status,
        total=first.total,
        created_at=first.created_at,
        modified_at=first.modified_at,
        items=[
            OrderItemRead(
                product_id=row.product_id,
                name=row.name,
                unit_price=row.unit_price,
                quantity=row.quantity,
            )
            for row in rows
        ],
    )
    if keyed:
        # Saved in the confirming transaction: the order and its replayable outcome commit
        # together.
        await repository.save_response(
            session, order_id=order_id, status=201, body=read.model_dump(mode="json")
        )
    return read


async def fail_order(
    session: AsyncSession, *, order_id: uuid.UUID, error: AppError
) -> OrderStatus | None:
    """End a pending order whose client was answered with `error`; the status it got, or
    None if it was no longer pending.

    A 4xx (unknown product, short stock) makes it `failed`: the user sees it, and the same
    key replays the answer. After a 503 the contract keeps no order: it becomes `cancelled`
    (hidden from the user, kept for the stock accounting) and the key is freed for a retry.
    """
    order = await repository.get_order_for_update(session, order_id)
    if order is None or order.status != OrderStatus.PENDING or order.delete_requested_at:
        return None
    order.status = OrderStatus.FAILED if error.status_code < 500 else OrderStatus.CANCELLED
    await session.flush()
    if error.status_code < 500:
        await repository.save_response(
            session, order_id=order_id, status=error.status_code, body=error.body()
        )
    else:
        await repository.forget_key(session, order_id=order_id)
    return OrderStatus(order.status)


async def forget_key(session: AsyncSession, *, order_id: uuid.UUID) -> None:
    await repository.forget_key(session, order_id=order_id)


async def get_order(session: AsyncSession, *, user_id: uuid.UUID, order_id: uuid.UUID) -> OrderRead:
    order = _visible_to(await repository.get_order(session, order_id), user_id)
    return order_read(order)


async def list_orders(
    session: AsyncSession, *, user_id: uuid.UUID, status: OrderStatus | None, page: Pagination
) -> Page[OrderRead]:
    rows, count = await repository.list_orders(
        session,
        user_id=user_id,
        status=status.value if status else None,
        offset=page.offset,
        limit=page.limit,
    )
    return Page([OrderRead.model_validate(row._mapping) for row in rows], count)


async def claim_delete(
    session: AsyncSession, *, user_id: uuid.UUID, order_id: uuid.UUID, now: datetime
) -> None:
    """Record the cancellation (row locked only for this step). From this commit on the
    order is gone for its owner, and the cancellation only moves forward: a delete whose
    release fails or times out is finished by the reconciler, never undone.

    A pending order may be deleted too: its create can then no longer confirm it, and a
    reserve arriving after this release is refused by the product service.
    """
    order = _visible_to(await repository.get_order_for_update(session, order_id), user_id)
    order.delete_requested_at = now
    await session.flush()


async def finish_delete(session: AsyncSession, *, order_id: uuid.UUID) -> bool:
    """The stock is back: the order becomes `cancelled`. False if it was already."""
    order = await repository.get_order_for_update(session, order_id)
    if order is None or order.status == OrderStatus.CANCELLED:
        return False
    order.status = OrderStatus.CANCELLED
    await session.flush()
    return True
