"""All SQL of the order service."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Row,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    column,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.selectable import TextualSelect

from order_service.models import LIVE_STATUSES, IdempotencyKey, Order, OrderItem, OrderStatus
from order_service.schemas import OrderLine

__all__ = [
    "claim_abandoned_deletes",
    "claim_stale_pending",
    "confirm_order",
    "create_keyed_order",
    "create_order",
    "fail_order",
    "forget_key",
    "get_order",
    "get_order_for_update",
    "list_orders",
    "lock_user_orders",
    "purge_expired_keys",
    "try_advisory_lock",
    "units_held",
    "withdraw_order",
]

# What an owner sees: neither cancelled orders nor those whose cancellation is recorded.
VISIBLE = and_(Order.status != OrderStatus.CANCELLED, Order.delete_requested_at.is_(None))
# The advisory-lock space of "a user's order creates" (the two-key form, which never meets
# the reconciler's one-key lock); the key is 32 bits of the user id.
USER_ORDERS_LOCK_SPACE = 0x4F_52_44_55


async def lock_user_orders(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Wait for, then hold until the transaction ends, the user's create lock: two creates
    of one user then count each other's orders. Two users sharing 32 bits only queue."""
    key = int.from_bytes(user_id.bytes[:4], "big", signed=True)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :key)"),
        {"space": USER_ORDERS_LOCK_SPACE, "key": key},
    )


async def units_held(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    product_ids: Sequence[uuid.UUID],
    besides: uuid.UUID,
) -> dict[uuid.UUID, int]:
    """Units of each product the user's live orders but `besides` hold (products with none
    are absent).

    One query: the user's live orders from their partial index, their lines by primary key.
    """
    result = await session.execute(
        select(OrderItem.product_id, func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.user_id == user_id,
            Order.id != besides,
            # Literal values, so a cached generic plan still matches the partial index.
            Order.status.in_([literal(s.value, literal_execute=True) for s in LIVE_STATUSES]),
            OrderItem.product_id.in_(product_ids),
        )
        .group_by(OrderItem.product_id)
    )
    return {product_id: int(units) for product_id, units in result.all()}


# The steps of a create, each one statement built once and run on an autocommit connection
# (or inside the bounded create's transaction), so each is one round trip and is atomic.
_INSERT_LINES = """
    INSERT INTO order_items (order_id, product_id, position, quantity)
    SELECT new_order.id, line.product_id, line.position - 1, line.quantity
    FROM new_order,
        unnest(:product_ids, :quantities) WITH ORDINALITY AS line(product_id, quantity, position)
"""
_LINE_PARAMETERS = (
    bindparam("id", type_=Uuid),
    bindparam("user_id", type_=Uuid),
    bindparam("product_ids", type_=ARRAY(Uuid)),
    bindparam("quantities", type_=ARRAY(Integer)),
    bindparam("pending", OrderStatus.PENDING.value, type_=String),
)
_CREATE_ORDER = text(
    f"""
    WITH new_order AS (
        INSERT INTO orders (id, user_id, status, total)
        VALUES (:id, :user_id, :pending, 0)
        RETURNING id, created_at
    ), new_lines AS ({_INSERT_LINES})
    SELECT created_at FROM new_order
    """  # noqa: S608 - the only insertion is the constant statement above
).bindparams(*_LINE_PARAMETERS)

# Claims the key for the new order (a key past its time to live is taken over in place, as
# if it had been deleted) and writes the order only when the claim succeeded. On a conflict
# the key's row as this statement's snapshot saw it comes back instead, to replay its answer;
# none when the row is newer than the snapshot (its request is still running).
_CREATE_KEYED_ORDER = (
    text(
        f"""
    WITH claimed AS (
        INSERT INTO idempotency_keys AS k (user_id, key, request_hash, order_id)
        VALUES (:user_id, :key, :request_hash, :id)
        ON CONFLICT (user_id, key) DO UPDATE
            SET request_hash = excluded.request_hash, order_id = excluded.order_id,
                response_status = NULL, response_body = NULL, created_at = now()
            WHERE k.created_at < :expired_before
        RETURNING k.order_id
    ), new_order AS (
        INSERT INTO orders (id, user_id, status, total)
        SELECT claimed.order_id, :user_id, :pending, 0 FROM claimed
        RETURNING id, created_at
    ), new_lines AS ({_INSERT_LINES})
    SELECT new_order.created_at, held.request_hash, held.response_status, held.response_body
    FROM (SELECT 1) AS one
        LEFT JOIN new_order ON true
        LEFT JOIN idempotency_keys AS held ON held.user_id = :user_id AND held.key = :key
            AND held.created_at >= :expired_before
    """  # noqa: S608 - the only insertion is the constant statement above
    )
    .bindparams(
        *_LINE_PARAMETERS,
        bindparam("key", type_=String),
        bindparam("request_hash", type_=String),
        bindparam("expired_before", type_=DateTime(timezone=True)),
    )
    .columns(
        column("created_at", DateTime(timezone=True)),
        column("request_hash", String),
        column("response_status", Integer),
        column("response_body", JSON),
    )
)

# Confirms the order only while it is pending and neither its deletion nor the reconciler's
# release is recorded (the UPDATE locks the row and re-checks that after any wait), gives its
# lines the reserved snapshot and saves the answer for its key's replays: all or nothing.
_CONFIRM_ORDER = text(
    """
    WITH confirmed AS (
        UPDATE orders SET status = :confirmed, total = :total, modified_at = :now
        WHERE id = :id AND status = :pending
            AND delete_requested_at IS NULL AND release_requested_at IS NULL
        RETURNING id
    ), priced AS (
        UPDATE order_items SET name = reserved.name, unit_price = reserved.unit_price
        FROM confirmed,
            unnest(:product_ids, :names, :unit_prices) AS reserved(product_id, name, unit_price)
        WHERE order_items.order_id = confirmed.id
            AND order_items.product_id = reserved.product_id
    ), answered AS (
        UPDATE idempotency_keys SET response_status = 201, response_body = CAST(:answer AS jsonb)
        FROM confirmed
        WHERE idempotency_keys.order_id = confirmed.id AND CAST(:answer AS text) IS NOT NULL
    )
    SELECT count(*) FROM confirmed
    """
).bindparams(
    bindparam("id", type_=Uuid),
    bindparam("total", type_=BigInteger),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("product_ids", type_=ARRAY(Uuid)),
    bindparam("names", type_=ARRAY(String)),
    bindparam("unit_prices", type_=ARRAY(BigInteger)),
    bindparam("answer", type_=String),
    bindparam("pending", OrderStatus.PENDING.value, type_=String),
    bindparam("confirmed", OrderStatus.CONFIRMED.value, type_=String),
)

# Ends a pending order whose deletion is not recorded (a reclaimed one included) and, in the
# same statement, settles its key: the answer saved (`failed`) or the key freed (`cancelled`).
_END_PENDING = """
    WITH ended AS (
        UPDATE orders SET status = :status, modified_at = now()
        WHERE id = :id AND status = :pending AND delete_requested_at IS NULL
        RETURNING id
    ), keyed AS ({settle})
    SELECT count(*) FROM ended
"""
_ENDED_PARAMETERS = (
    bindparam("id", type_=Uuid),
    bindparam("pending", OrderStatus.PENDING.value, type_=String),
)
_FAIL_ORDER = text(
    _END_PENDING.format(
        settle="""
        UPDATE idempotency_keys SET response_status = :answer_status,
            response_body = CAST(:answer AS jsonb)
        FROM ended WHERE idempotency_keys.order_id = ended.id"""
    )
).bindparams(
    *_ENDED_PARAMETERS,
    bindparam("status", OrderStatus.FAILED.value, type_=String),
    bindparam("answer_status", type_=Integer),
    bindparam("answer", type_=String),
)
_WITHDRAW_ORDER = text(
    _END_PENDING.format(
        settle="""
        DELETE FROM idempotency_keys USING ended
        WHERE idempotency_keys.order_id = ended.id AND idempotency_keys.response_status IS NULL"""
    )
).bindparams(*_ENDED_PARAMETERS, bindparam("status", OrderStatus.CANCELLED.value, type_=String))
_FORGET_KEY = text(
    "DELETE FROM idempotency_keys WHERE order_id = :id AND response_status IS NULL"
).bindparams(bindparam("id", type_=Uuid))


def _line_parameters(
    order_id: uuid.UUID, user_id: uuid.UUID, lines: Sequence[OrderLine]
) -> dict[str, Any]:
    return {
        "id": order_id,
        "user_id": user_id,
        "product_ids": [line.product_id for line in lines],
        "quantities": [line.quantity for line in lines],
    }


async def create_order(
    connection: AsyncConnection,
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
) -> datetime:
    """Write the pending order and its lines (in their order); when it was created."""
    parameters = _line_parameters(order_id, user_id, lines)
    created_at: datetime = (await connection.execute(_CREATE_ORDER, parameters)).scalar_one()
    return created_at


async def create_keyed_order(
    connection: AsyncConnection,
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    lines: Sequence[OrderLine],
    key: str,
    request_hash: str,
    expired_before: datetime,
) -> Row[Any]:
    """Claim `key` (or take it over from before `expired_before`) and write the pending
    order: `created_at` set when it was written, else the key's `request_hash`,
    `response_status` and `response_body` as held (all None when not visible yet)."""
    parameters = _line_parameters(order_id, user_id, lines)
    parameters.update(key=key, request_hash=request_hash, expired_before=expired_before)
    return (await connection.execute(_CREATE_KEYED_ORDER, parameters)).one()


async def confirm_order(
    connection: AsyncConnection,
    *,
    order_id: uuid.UUID,
    total: int,
    snapshot: Sequence[tuple[uuid.UUID, str, int]],
    now: datetime,
    answer: str | None,
) -> bool:
    """Confirm the pending order with the `snapshot` (product id, name, unit price) of each
    line, and save `answer` (JSON) for its key; False, with nothing written, when it is no
    longer pending, or its deletion or release is recorded."""
    parameters = {
        "id": order_id,
        "total": total,
        "now": now,
        "product_ids": [product_id for product_id, _, _ in snapshot],
        "names": [name for _, name, _ in snapshot],
        "unit_prices": [price for _, _, price in snapshot],
        "answer": answer,
    }
    return bool((await connection.execute(_CONFIRM_ORDER, parameters)).scalar_one())


async def fail_order(
    connection: AsyncConnection, *, order_id: uuid.UUID, answer_status: int, answer: str
) -> bool:
    """Make the pending order `failed` and save the answer (JSON) for its key; False when
    it was no longer pending or its deletion is recorded."""
    parameters = {"id": order_id, "answer_status": answer_status, "answer": answer}
    return bool((await connection.execute(_FAIL_ORDER, parameters)).scalar_one())


async def withdraw_order(connection: AsyncConnection, *, order_id: uuid.UUID) -> bool:
    """Make the pending order `cancelled` and free its key; False as `fail_order`."""
    return bool((await connection.execute(_WITHDRAW_ORDER, {"id": order_id})).scalar_one())


async def forget_key(connection: AsyncConnection, *, order_id: uuid.UUID) -> None:
    """Free the order's key when no final answer was given, so the client may retry with it."""
    await connection.execute(_FORGET_KEY, {"id": order_id})


async def get_order_for_update(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The order with its row locked until the transaction ends (never across an HTTP call)."""
    result = await session.execute(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update(of=Order)
        .options(selectinload(Order.items))
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


# An order's columns with its lines as JSON, in their order: one round trip for an order
# and its lines, where the ORM took two.
_ORDER_COLUMNS = """
    o.id, o.user_id, o.status, o.total, o.created_at, o.modified_at,
    (SELECT coalesce(json_agg(json_build_object(
                'product_id', i.product_id, 'name', i.name,
                'unit_price', i.unit_price, 'quantity', i.quantity)
            ORDER BY i.position), '[]'::json)
        FROM order_items i WHERE i.order_id = o.id) AS items
"""
_ORDER_RESULT = (
    column("id", Uuid),
    column("user_id", Uuid),
    column("status", String),
    column("total", BigInteger),
    column("created_at", DateTime(timezone=True)),
    column("modified_at", DateTime(timezone=True)),
    column("items", JSON),
)
# Whether the caller may see it is the service's to decide, so the row comes whatever it is.
_GET_ORDER = (
    text(
        f"SELECT {_ORDER_COLUMNS}, o.delete_requested_at FROM orders o WHERE o.id = :id"  # noqa: S608 - a constant
    )
    .bindparams(bindparam("id", type_=Uuid))
    .columns(*_ORDER_RESULT, column("delete_requested_at", DateTime(timezone=True)))
)


def _list_statement(*, by_status: bool) -> TextualSelect:
    """A page of a user's visible orders, newest first, with each order's lines and how
    many orders match in all (`count(*) OVER ()`, computed before the page is cut), in one
    round trip. The lines are read only for the rows of the page."""
    status = "AND o.status = :status" if by_status else ""
    statement = text(
        f"""
        SELECT {_ORDER_COLUMNS}, count(*) OVER () AS matching
        FROM orders o
        WHERE o.user_id = :user_id AND o.status <> :cancelled
            AND o.delete_requested_at IS NULL {status}
        ORDER BY o.created_at DESC, o.id DESC
        OFFSET :offset LIMIT :limit
        """  # noqa: S608 - the only insertions are the constants above
    ).bindparams(
        bindparam("user_id", type_=Uuid),
        bindparam("cancelled", OrderStatus.CANCELLED.value, type_=String),
        bindparam("offset", type_=Integer),
        bindparam("limit", type_=Integer),
    )
    return statement.columns(*_ORDER_RESULT, column("matching", BigInteger))


_LIST = {by_status: _list_statement(by_status=by_status) for by_status in (False, True)}


async def get_order(connection: AsyncConnection, order_id: uuid.UUID) -> Row[Any] | None:
    """The order's row with its `items` as dicts (and `delete_requested_at`), if any."""
    return (await connection.execute(_GET_ORDER, {"id": order_id})).one_or_none()


async def list_orders(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the user's visible orders, newest first (each row with its `items` as
    dicts), and how many there are in all."""
    parameters: dict[str, Any] = {"user_id": user_id, "offset": offset, "limit": limit}
    if status is not None:
        parameters["status"] = status
    rows = (await connection.execute(_LIST[status is not None], parameters)).all()
    if rows:
        return rows, int(rows[0].matching)
    if offset == 0:
        return rows, 0
    # Past the last page: the page is empty, but the count is still wanted.
    conditions: list[ColumnElement[bool]] = [Order.user_id == user_id, VISIBLE]
    if status is not None:
        conditions.append(Order.status == status)
    count = await connection.scalar(select(func.count()).select_from(Order).where(*conditions))
    return rows, int(count or 0)


async def purge_expired_keys(session: AsyncSession, *, created_before: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < created_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def try_advisory_lock(session: AsyncSession, key: int) -> bool:
    """A transaction-scoped advisory lock: True when this transaction got it."""
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


async def claim_stale_pending(
    session: AsyncSession, *, untouched_since: datetime, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Pending orders nobody touched since `untouched_since`; touched now so nobody else
    claims them for another grace period. Rows locked by others are skipped."""
    stale = (
        select(Order.id)
        .where(
            Order.status == OrderStatus.PENDING,
            Order.delete_requested_at.is_(None),
            Order.modified_at < untouched_since,
        )
        .order_by(Order.modified_at)
        .limit(limit)
    )
    return await _claim(
        session,
        stale,
        modified_at=now,
        release_requested_at=func.coalesce(Order.release_requested_at, now),
    )


async def claim_abandoned_deletes(
    session: AsyncSession, *, requested_before: datetime, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Recorded cancellations not finished (the release's outcome was unknown, or the
    process died): claimed now to be finished, and claimed again a grace period later if
    this round cannot finish them either."""
    abandoned = (
        select(Order.id)
        .where(Order.status != OrderStatus.CANCELLED, Order.delete_requested_at < requested_before)
        .order_by(Order.delete_requested_at)
        .limit(limit)
    )
    return await _claim(session, abandoned, delete_requested_at=now)


async def _claim(
    session: AsyncSession, candidates: Select[uuid.UUID], **values: Any
) -> list[uuid.UUID]:
    """Lock the orders `candidates` selects that no other replica holds (SKIP LOCKED), stamp
    them with `values` so that they are not claimed again at once, and return their ids."""
    ids = list((await session.scalars(candidates.with_for_update(skip_locked=True))).all())
    if ids:
        await session.execute(update(Order).where(Order.id.in_(ids)).values(**values))
    return ids
