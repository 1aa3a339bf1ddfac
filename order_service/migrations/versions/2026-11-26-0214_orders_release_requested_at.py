"""orders release requested at

Revision ID: 4de6fcb64aba
Revises: 7e3ef3de57f1
Create Date: 2026-11-26 02:14:33.926525
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4de6fcb64aba"
down_revision: str | None = "7e3ef3de57f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders", sa.Column("release_requested_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("orders", "release_requested_at")
