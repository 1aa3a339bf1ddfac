"""Tables of the product service: products, and the stock reservations orders hold on them."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import BigInteger, DateTime, Integer, SmallInteger, String

from product_service.catalogue.schemas import MAX_PRICE
from shop_common.db import ModelDefaults, service_metadata

__all__ = [
    "SCHEMA_REVISIONS",
    "Base",
    "Product",
    "ProductCount",
    "Reservation",
    "ReservationItem",
]


# migrations/versions, oldest first, for /ready (create_service_app's schema_revisions);
# tests/test_migrations.py fails until a new migration is added here.
SCHEMA_REVISIONS = ("52f5ad74aac8", "4fd2975c436c", "9b3e1c7d5a20", "6c2e8f41d9b7")


class Base(ModelDefaults, DeclarativeBase):
    metadata = service_metadata()


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("creator_id", "name"),  # also serves the creator_id filter
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint(f"price <= {MAX_PRICE}", name="price_at_most_maximum"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        # (column, id) pairs: each list sort, with its id tie-breaker, walks one index.
        Index("ix_products_created_at_id", "created_at", "id"),
        Index("ix_products_price_id", "price", "id"),
        Index("ix_products_name_id", "name", "id"),
        # Trigram indexes let `q` (ILIKE '%...%') avoid a full scan. No pending list
        # (fastupdate off): a search would read all of it until a VACUUM merged it.
        Index(
            "ix_products_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
        Index(
            "ix_products_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    creator_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(5000), default="", server_default="")
    price: Mapped[int] = mapped_column(BigInteger)  # cents
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Incremented on every change; the ETag is made from it.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    modified_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ProductCount(Base):
    """How many products there are, kept by triggers on `products` (insert, delete, truncate)
    so every writer keeps it exact: the unfiltered list reads it instead of counting rows.

    One row, made by the first trigger that fires; no row means no product yet.
    """

    __tablename__ = "product_count"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class Reservation(Base):
    """The stock one order holds; the primary key makes reserve idempotent per order.

    A release of an order that reserved nothing leaves a row already released, so a reserve
    for that order arriving late cannot take stock nobody will give back.
    """

    __tablename__ = "reservations"

    order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReservationItem(Base):
    """One reserved line with the product's name and price at the time (the order's snapshot).

    `product_id` has no foreign key on purpose: deleting a product must keep the history.
    """

    __tablename__ = "reservation_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.order_id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
