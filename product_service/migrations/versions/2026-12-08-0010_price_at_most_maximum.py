"""The price maximum (180,143,985,094 cents) as a check on products; stops on rows above it

Revision ID: 9b3e1c7d5a20
Revises: 4fd2975c436c
Create Date: 2026-12-08 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "9b3e1c7d5a20"
down_revision: str | None = "4fd2975c436c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept here, not imported: a migration states the schema of its own revision.
MAX_PRICE = 180_143_985_094
SHOWN = 20
ABOVE = (
    "{count} product(s) cost more than the price maximum of {maximum} cents, so their order "
    "totals would not be exact in a JavaScript client. Ids: {ids}. Their prices are not "
    "changed for you: ask each creator for a new price, or set one with `UPDATE products SET "
    "price = <cents>, version = version + 1 WHERE id = '<id>';` (at most {maximum}), then run "
    "the migration again (docs/decisions.md, Security, second round)."
)


def _refuse_prices_above_the_maximum() -> None:
    if context.is_offline_mode():
        return
    rows = op.get_bind().execute(
        sa.text("SELECT id FROM products WHERE price > :maximum ORDER BY id"),
        {"maximum": MAX_PRICE},
    )
    ids = [str(row.id) for row in rows]
    if ids:
        shown = ", ".join(ids[:SHOWN]) + (" ..." if len(ids) > SHOWN else "")
        raise RuntimeError(ABOVE.format(count=len(ids), maximum=MAX_PRICE, ids=shown))


def upgrade() -> None:
    # Writers wait, so no price above the maximum lands between the check and the constraint.
    op.execute("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
    _refuse_prices_above_the_maximum()
    op.create_check_constraint(
        op.f("ck_products_price_at_most_maximum"), "products", f"price <= {MAX_PRICE}"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_products_price_at_most_maximum"), "products", type_="check")
