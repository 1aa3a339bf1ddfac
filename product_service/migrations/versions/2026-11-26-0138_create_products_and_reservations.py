"""create products and reservations

Revision ID: 52f5ad74aac8
Revises:
Create Date: 2026-11-26 01:38:33.445714
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "52f5ad74aac8"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")
TRIGRAM_INDEXES = {"ix_products_name_trgm": "name", "ix_products_description_trgm": "description"}


def _pg_trgm_available() -> bool:
    """pg_trgm ships with PostgreSQL's contrib, but not every build has it (the search
    revision, 4fd2975c436c, then requires it); offline SQL assumes a full installation."""
    if context.is_offline_mode():
        return True
    query = sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    return op.get_bind().execute(query).scalar() is not None


def _create_trigram_indexes() -> None:
    """GIN trigram indexes serve `q` (ILIKE '%...%'); without them `q` scans the table."""
    if not _pg_trgm_available():
        logger.warning("pg_trgm is not available: product search (q) will scan the table")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, column in TRIGRAM_INDEXES.items():
        op.create_index(
            index,
            "products",
            [column],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def _drop_trigram_indexes() -> None:
    for index in TRIGRAM_INDEXES:
        op.drop_index(index, table_name="products", if_exists=True)
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=5000), server_default="", nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "modified_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_non_negative")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_products_stock_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("creator_id", "name", name=op.f("uq_products_creator_id_name")),
    )
    op.create_index("ix_products_created_at_id", "products", ["created_at", "id"], unique=False)
    op.create_index("ix_products_name_id", "products", ["name", "id"], unique=False)
    op.create_index("ix_products_price_id", "products", ["price", "id"], unique=False)
    _create_trigram_indexes()
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_reservations")),
    )
    op.create_table(
        "reservation_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_reservation_items_quantity_positive")),
        sa.CheckConstraint(
            "unit_price >= 0", name=op.f("ck_reservation_items_unit_price_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["reservations.order_id"],
            name=op.f("fk_reservation_items_order_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "line", name=op.f("pk_reservation_items")),
    )


def downgrade() -> None:
    _drop_trigram_indexes()
    op.drop_table("reservation_items")
    op.drop_table("reservations")
    op.drop_index("ix_products_price_id", table_name="products")
    op.drop_index("ix_products_name_id", table_name="products")
    op.drop_index("ix_products_created_at_id", table_name="products")
    op.drop_table("products")
