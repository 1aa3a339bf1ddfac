"""Business rules of the order service, one database step per function.

The steps of a create and the reads take a connection on which each is one statement, its
own transaction (`context.connection`); the steps of a delete and the bounded create
take a session and run inside one short transaction they are given, flushing only. The saga
and the reconciler (`saga.py`, `reconciler.py`) chain these steps with product-service calls
in between, each step committed before the next call.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
    "start_bounded_order",
    "start_order",
]


@dataclass(frozen=True)
class Started:
    """A new pending order, committed before its stock is reserved."""

    order_id: uuid.UUID
    created_at: datetime
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


def _not_found() -> NotFound:
    return NotFound("Order not found", code="order_not_found")


def _hidden_from(
    user_id: uuid.UUID, *, owner: uuid.UUID, status: str, delete_requested_at: datetime | None
) -> bool:
    """Someone else's order does not exist for `user_id`, and neither does one whose
    cancellation is recorded (deleted, or being deleted)."""
    return owner != user_id or status == OrderStatus.CANCELLED or delete_requested_at is not None


def _visible_to(order: Order | None, user_id: uuid.UUID) -> Order:
    """The order if `user_id` may see it (`_hidden_from`)."""
    if order is None or _hidden_from(
        user_id,
        owner=order.user_id,
        status=order.status,
        delete_requested_at=order.delete_requested_at,
    ):
        raise _not_found()
    return order


async def start_order(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
    key: str | None,
    now: datetime,
    key_ttl_seconds: int,
) -> Started | Replay | None:
    """Write the pending order, claiming `key` for it, in one statement; a replay when the
    key has an answer; None while another request holding the key is still running."""
    order_id = uuid.uuid4()
    if key is None:
        created_at = await repository.create_order(
            connection, order_id=order_id, user_id=user_id, lines=lines
        )
        return Started(order_id, created_at, keyed=False)
    request_hash = lines_hash(list(lines))
    row = await repository.create_keyed_order(
        connection,
        order_id=order_id,
        user_id=user_id,
        lines=lines,
        key=key,
        request_hash=request_hash,
        expired_before=now - timedelta(seconds=key_ttl_seconds),
    )
    if row.created_at is not None:
        return Started(order_id, row.created_at)
    return _answer_for_key(row, request_hash)


async def start_bounded_order(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
    key: str | None,
    now: datetime,
    key_ttl_seconds: int,
    max_units: int,
) -> Started | Replay | None:
    """`start_order` in the session's transaction, refusing (409 `order_limit_exceeded`;
    the transaction rolls back, so no order and no key are kept) an order that would take
    the user past `max_units` of a product in live orders."""
    started = await start_order(
        await session.connection(),
        user_id=user_id,
        lines=lines,
        key=key,
        now=now,
        key_ttl_seconds=key_ttl_seconds,
    )
    if isinstance(started, Started):
        await _within_bound(
            session, order_id=started.order_id, user_id=user_id, lines=lines, limit=max_units
        )
    return started


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


def _answer_for_key(held: Row[Any], request_hash: str) -> Replay | None:
    """What the key taken by another request answers: its answer when it has one; None
    while that request runs (or when its row is newer than the statement's snapshot)."""
    if held.request_hash is None:
        return None
    if held.request_hash != request_hash:
        raise ValidationFailed(
            "This Idempotency-Key was used with another request body",
            code="idempotency_key_reused",
            details=[
                {"loc": ["header", "Idempotency-Key"], "msg": "Key already used for another order"}
            ],
        )
    if held.response_status is None or held.response_body is None:
        return None
    return Replay(held.response_status, held.response_body)


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
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    started: Started,
    lines: Sequence[OrderLine],
    reservation: ReservationRead,
    now: datetime,
) -> OrderRead | None:
    """Confirm the pending order with the reserved price snapshot (`check_reservation`
    passed: one reserved item per line); None when it is no longer pending (reconciled or
    deleted meanwhile), in which case the reservation must go back.

    A keyed order's answer is saved for replays in the same statement, so the order and its
    replayable outcome are written together. So the answer is built first, as the order is
    once confirmed: its `modified_at` is `now` (this process's clock, never before
    `created_at`), not the database's."""
    reserved = {item.product_id: item for item in reservation.items}
    items = [
        OrderItemRead(
            product_id=line.product_id,
            name=reserved[line.product_id].name,
            unit_price=reserved[line.product_id].unit_price,
            quantity=line.quantity,
        )
        for line in lines
    ]
    read = OrderRead(
        id=started.order_id,
        user_id=user_id,
        status=OrderStatus.CONFIRMED,
        total=sum(item.unit_price * item.quantity for item in items),
        created_at=started.created_at,
        modified_at=max(now, started.created_at),
        items=items,
    )
    confirmed = await repository.confirm_order(
        connection,
        order_id=started.order_id,
        total=read.total,
        snapshot=[(item.product_id, item.name, item.unit_price) for item in items],
        now=read.modified_at,
        answer=read.model_dump_json() if started.keyed else None,
    )
    return read if confirmed else None


async def fail_order(
    connection: AsyncConnection, *, order_id: uuid.UUID, error: AppError
) -> OrderStatus | None:
    """End a pending order whose client was answered with `error`; the status it got, or
    None if it was no longer pending (or its deletion is recorded).

    A 4xx (unknown product, short stock) makes it `failed`: the user sees it, and the same
    key replays the answer. After a 503 the contract keeps no order: it becomes `cancelled`
    (hidden from the user, kept for the stock accounting) and the key is freed for a retry.
    """
    if error.status_code >= 500:
        if await repository.withdraw_order(connection, order_id=order_id):
            return OrderStatus.CANCELLED
        return None
    answer = json.dumps(error.body())
    if await repository.fail_order(
        connection, order_id=order_id, answer_status=error.status_code, answer=answer
    ):
        return OrderStatus.FAILED
    return None


async def forget_key(connection: AsyncConnection, *, order_id: uuid.UUID) -> None:
    await repository.forget_key(connection, order_id=order_id)


async def get_order(
    connection: AsyncConnection, *, user_id: uuid.UUID, order_id: uuid.UUID
) -> OrderRead:
    order = await repository.get_order(connection, order_id)
    if order is None or _hidden_from(
        user_id,
        owner=order.user_id,
        status=order.status,
        delete_requested_at=order.delete_requested_at,
    ):
        raise _not_found()
    return OrderRead.model_validate(order._mapping)


async def list_orders(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    status: OrderStatus | None,
    page: Pagination,
) -> Page[OrderRead]:
    rows, count = await repository.list_orders(
        connection,
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
