"""users.token_generation: the session generation a password change bumps

Revision ID: 29db6f1e4c87
Revises: d00743bac25d
Create Date: 2026-12-02 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "29db6f1e4c87"
down_revision: str | None = "d00743bac25d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False),
    )
    # Tokens issued before this migration carry no generation and count as generation 0:
    # a user who already changed their password starts at 1, so the tokens that change
    # ended stay refused (tokens issued since then are refused too: one more login).
    op.execute("UPDATE users SET token_generation = 1 WHERE tokens_valid_after IS NOT NULL")


def downgrade() -> None:
    op.drop_column("users", "token_generation")
