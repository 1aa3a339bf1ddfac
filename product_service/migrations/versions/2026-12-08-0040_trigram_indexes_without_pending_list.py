"""The trigram indexes without a pending list (fastupdate off), the pending entries merged

Revision ID: 6c2e8f41d9b7
Revises: 9b3e1c7d5a20
Create Date: 2026-12-08 00:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "6c2e8f41d9b7"
down_revision: str | None = "9b3e1c7d5a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# With fastupdate on, new entries wait in an unsorted pending list (up to 4 MB) that every
# search reads whole until a VACUUM merges it: a search then costs more the more was written.
TRIGRAM_INDEXES = ("ix_products_name_trgm", "ix_products_description_trgm")


def upgrade() -> None:
    for index in TRIGRAM_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    for index in TRIGRAM_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
