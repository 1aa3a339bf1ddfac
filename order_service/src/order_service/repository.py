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
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.selectable import TextualSelect

from order_service.models import LIVE_STATUSES, IdempotencyKey, Order, OrderItem, OrderStatus
from order_service.schemas import OrderLine

__all__ = [
    "claim_abandoned_deletes",
    "claim_stale_pending",
    "confirm_order",
    "create_order",
    "delete_expired_key",
    "forget_key",
    "get_key",
    "get_order",
    "get_order_for_update",
    "insert_key",
    "link_key",
    "list_orders",
    "lock_user_orders",
    "purge_expired_keys",
    "save_response",
    "try_advisory_lock",
    "units_held",
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


# The two statements of every order, built once (issue 12): each is one round trip, where the
# ORM's unit of work took two or three and most of an order worker's database CPU.
_CREATE_ORDER = text(
    """
    WITH new_order AS (
        INSERT INTO orders (id, user_id, status, total)
        VALUES (:id, :user_id, :pending, 0)
        RETURNING id
    )
    INSERT INTO order_items (order_id, product_id, position, quantity)
    SELECT new_order.id, line.product_id, line.position - 1, line.quantity
    FROM new_order,
        unnest(:product_ids, :quantities) WITH ORDINALITY AS line(product_id, quantity, position)
    """
).bindparams(
    bindparam("id", type_=Uuid),
    bindparam("user_id", type_=Uuid),
    bindparam("product_ids", type_=ARRAY(Uuid)),
    bindparam("quantities", type_=ARRAY(Integer)),
    bindparam("pending", OrderStatus.PENDING.value, type_=String),
)

# Confirms the order only while it is pending and neither its deletion nor the reconciler's
# release is recorded (the UPDATE locks the row and re-checks that after any wait), and gives
# its lines the reserved snapshot; no row when the order was no longer confirmable.
_CONFIRM_ORDER = text(
    """
    WITH confirmed AS (
        UPDATE orders SET status = :confirmed, total = :total,
            modified_at = now()
        WHERE id = :id AND status = :pending
            AND delete_requested_at IS NULL AND release_requested_at IS NULL
        RETURNING id, user_id, status, total, created_at, modified_at
    ), lines AS (
        UPDATE order_items SET name = reserved.name, unit_price = reserved.unit_price
        FROM confirmed,
            unnest(:product_ids, :names, :unit_prices) AS reserved(product_id, name, unit_price)
        WHERE order_items.order_id = confirmed.id
            AND order_items.product_id = reserved.product_id
        RETURNING order_items.product_id, order_items.position, order_items.quantity,
            order_items.name, order_items.unit_price
    )
    SELECT confirmed.id, confirmed.user_id, confirmed.status, confirmed.total,
        confirmed.created_at, confirmed.modified_at, lines.product_id, lines.quantity,
        lines.name, lines.unit_price
    FROM confirmed CROSS JOIN lines
    ORDER BY lines.position
    """
).bindparams(
    bindparam("id", type_=Uuid),
    bindparam("total", type_=BigInteger),
    bindparam("product_ids", type_=ARRAY(Uuid)),
    bindparam("names", type_=ARRAY(String)),
    bindparam("unit_prices", type_=ARRAY(BigInteger)),
    bindparam("pending", OrderStatus.PENDING.value, type_=String),
    bindparam("confirmed", OrderStatus.CONFIRMED.value, type_=String),
)


async def create_order(
    session: AsyncSession, *, user_id: uuid.UUID, lines: Sequence[OrderLine]
) -> uuid.UUID:
    """Write the pending order and its lines (in their order), in one statement."""
    order_id = uuid.uuid4()
    connection = await session.connection()
    parameters = {
        "id": order_id,
        "user_id": user_id,
        "product_ids": [line.product_id for line in lines],
        "quantities": [line.quantity for line in lines],
    }
    await connection.execute(_CREATE_ORDER, parameters)
    return order_id


async def confirm_order(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    total: int,
    snapshot: Sequence[tuple[uuid.UUID, str, int]],
) -> Sequence[Row[Any]]:
    """Confirm the pending order with the `snapshot` (product id, name, unit price) of each
    line: the order's columns and its lines, one row per line in order; no row when the
    order is no longer pending, or its deletion or release is recorded."""
    connection = await session.connection()
    parameters = {
        "id": order_id,
        "total": total,
        "product_ids": [product_id for product_id, _, _ in snapshot],
        "names": [name for _, name, _ in snapshot],
        "unit_prices": [price for _, _, price in snapshot],
    }
    return (await connection.execute(_CONFIRM_ORDER, parameters)).all()


async def get_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    result = await session.execute(
        select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    )
    return result.scalar_one_or_none()


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


def _list_statement(*, by_status: bool) -> TextualSelect:
    """A page of a user's visible orders, newest first, with each order's lines as JSON and
    how many orders match in all (`count(*) OVER ()`, computed before the page is cut), in
    one round trip where the ORM took three (issue 12). The lines are read only for the
    rows of the page."""
    status = "AND o.status = :status" if by_status else ""
    statement = text(
        f"""
        SELECT o.id, o.user_id, o.status, o.total, o.created_at, o.modified_at,
            count(*) OVER () AS matching,
            (SELECT coalesce(json_agg(json_build_object(
                        'product_id', i.product_id, 'name', i.name,
                        'unit_price', i.unit_price, 'quantity', i.quantity)
                    ORDER BY i.position), '[]'::json)
                FROM order_items i WHERE i.order_id = o.id) AS items
        FROM orders o
        WHERE o.user_id = :user_id AND o.status <> :cancelled
            AND o.delete_requested_at IS NULL {status}
        ORDER BY o.created_at DESC, o.id DESC
        OFFSET :offset LIMIT :limit
        """  # noqa: S608 - the only insertion is the constant status condition above
    ).bindparams(
        bindparam("user_id", type_=Uuid),
        bindparam("cancelled", OrderStatus.CANCELLED.value, type_=String),
        bindparam("offset", type_=Integer),
        bindparam("limit", type_=Integer),
    )
    return statement.columns(
        column("id", Uuid),
        column("user_id", Uuid),
        column("status", String),
        column("total", BigInteger),
        column("created_at", DateTime(timezone=True)),
        column("modified_at", DateTime(timezone=True)),
        column("matching", BigInteger),
        column("items", JSON),
    )


_LIST = {by_status: _list_statement(by_status=by_status) for by_status in (False, True)}


async def list_orders(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the user's visible orders, newest first (each row with its `items` as
    dicts), and how many there are in all."""
    connection = await session.connection()
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
    count = await session.scalar(select(func.count()).select_from(Order).where(*conditions))
    return rows, int(count or 0)


async def delete_expired_key(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, created_before: datetime
) -> None:
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < created_before,
        )
    )


async def purge_expired_keys(session: AsyncSession, *, created_before: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < created_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def insert_key(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, request_hash: str
) -> bool:
    """Claim `key` for this user; False when another request holds it already.

    A concurrent insert of the same key waits here until the other transaction ends.
    """
    result = await session.execute(
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
    )
    return result.scalar_one_or_none() is not None


async def get_key(session: AsyncSession, *, user_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    result = await session.execute(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    return result.scalar_one_or_none()


async def link_key(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, order_id: uuid.UUID
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(order_id=order_id)
    )


async def save_response(
    session: AsyncSession, *, order_id: uuid.UUID, status: int, body: dict[str, Any]
) -> None:
    """Remember the final answer given for the order's key, to replay it."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.order_id == order_id)
        .values(response_status=status, response_body=body)
    )


async def forget_key(session: AsyncSession, *, order_id: uuid.UUID) -> None:
    """Free the order's key when no final answer was given, so the client may retry with it."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.order_id == order_id, IdempotencyKey.response_status.is_(None)
        )
    )


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
