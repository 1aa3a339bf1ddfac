"""Tables of the order service: orders, their lines, and the idempotency keys of creates."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import BigInteger, DateTime, Integer, String

from shop_common.db import ModelDefaults, service_metadata

__all__ = [
    "SCHEMA_REVISIONS",
    "LIVE_STATUSES",
    "VISIBLE_STATUSES",
    "Base",
    "IdempotencyKey",
    "Order",
    "OrderItem",
    "OrderStatus",
]


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    # Internal only: a deleted order, kept for the stock accounting and never shown.
    CANCELLED = "cancelled"


# What an owner can see; `cancelled` never leaves the service.
VISIBLE_STATUSES = tuple(status for status in OrderStatus if status is not OrderStatus.CANCELLED)
# Orders that hold (or may hold) their stock: what the per-user bound counts.
LIVE_STATUSES = (OrderStatus.PENDING, OrderStatus.CONFIRMED)
_STATUSES = ", ".join(f"'{status.value}'" for status in OrderStatus)
_LIVE = ", ".join(f"'{status.value}'" for status in LIVE_STATUSES)


# migrations/versions, oldest first, for /ready (create_service_app's schema_revisions);
# tests/test_migrations.py fails until a new migration is added here.
SCHEMA_REVISIONS = ("7e3ef3de57f1", "4de6fcb64aba", "9b1f6c2d7a40")


class Base(ModelDefaults, DeclarativeBase):
    metadata = service_metadata()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_orders_status_modified_at", "status", "modified_at"),
        # The per-user bound sums a user's live orders only, however many others they have.
        Index(
            "ix_orders_user_id_live", "user_id", "id", postgresql_where=text(f"status IN ({_LIVE})")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Set when the reconciler takes an abandoned pending order to give its stock back:
    # from then on the order can never be confirmed, whatever its create step does.
    release_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when its owner deletes the order (no row lock is held while its stock is
    # released); never cleared: the order becomes `cancelled` once the release succeeds.
    delete_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    modified_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    items: Mapped[list["OrderItem"]] = relationship(
        lazy="raise", order_by="OrderItem.position", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    """One line of an order; name and unit price are the snapshot the reservation returned."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    # Empty and 0 until the order is confirmed with the product service's snapshot.
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    unit_price: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class IdempotencyKey(Base):
    """A create request's `Idempotency-Key`, its body hash and, once final, its response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
