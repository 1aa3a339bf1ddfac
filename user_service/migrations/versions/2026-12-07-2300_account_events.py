"""account_events: the feed of logouts, password changes and deletions

Revision ID: 5b0e7c4a9d21
Revises: 29db6f1e4c87
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0e7c4a9d21"
down_revision: str | None = "29db6f1e4c87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_account_events")),
    )
    op.create_index(op.f("ix_account_events_at"), "account_events", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_account_events_at"), table_name="account_events")
    op.drop_table("account_events")
