"""orders: partial index of live orders by user, for the per-user bound

Revision ID: 9b1f6c2d7a40
Revises: 4de6fcb64aba
Create Date: 2026-12-02 01:01:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b1f6c2d7a40"
down_revision: str | None = "4de6fcb64aba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_user_id_live",
        "orders",
        ["user_id", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'confirmed')"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_user_id_live", table_name="orders")
