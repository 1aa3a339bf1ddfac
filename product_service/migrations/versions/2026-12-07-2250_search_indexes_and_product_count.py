"""pg_trgm and the trigram indexes where the first migration skipped them; the product count

Revision ID: 4fd2975c436c
Revises: 52f5ad74aac8
Create Date: 2026-12-07 22:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "4fd2975c436c"
down_revision: str | None = "52f5ad74aac8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAM_INDEXES = {"ix_products_name_trgm": "name", "ix_products_description_trgm": "description"}
NO_EXTENSION = (
    "pg_trgm is not installed in this database and could not be created here ({error}). "
    "Product search (q) needs its trigram indexes: run `CREATE EXTENSION IF NOT EXISTS pg_trgm "
    "SCHEMA public;` as a superuser in this database (deploy/postgres/20-pg-trgm.sql does "
    "it for compose), then run the migration again."
)
# Statement-level triggers with transition tables: one counter update per statement, however
# many rows it inserts or deletes. The upsert recreates the row after a TRUNCATE of both
# tables. SET search_path FROM CURRENT: the function finds the table the migration saw.
COUNT_FUNCTION = """
CREATE FUNCTION product_count_apply() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM changed;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT -count(*) INTO delta FROM changed;
    ELSE
        INSERT INTO product_count (id, n) VALUES (1, 0)
        ON CONFLICT (id) DO UPDATE SET n = 0;
        RETURN NULL;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO product_count (id, n) VALUES (1, delta)
        ON CONFLICT (id) DO UPDATE SET n = product_count.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$
"""
TRIGGERS = {
    "products_count_insert": "AFTER INSERT ON products REFERENCING NEW TABLE AS changed",
    "products_count_delete": "AFTER DELETE ON products REFERENCING OLD TABLE AS changed",
    "products_count_truncate": "AFTER TRUNCATE ON products",
}


def _ensure_pg_trgm() -> None:
    """Create pg_trgm when it is missing; stop with what to do when this role cannot."""
    if context.is_offline_mode():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        raise RuntimeError(NO_EXTENSION.format(error=exc.orig)) from exc


def _create_trigram_indexes() -> None:
    for index, column in TRIGRAM_INDEXES.items():
        op.create_index(
            index,
            "products",
            [column],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
            if_not_exists=True,
        )


def _create_product_count() -> None:
    op.create_table(
        "product_count",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_product_count_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_count")),
    )
    op.execute("INSERT INTO product_count (id, n) SELECT 1, count(*) FROM products")
    op.execute(COUNT_FUNCTION)
    for trigger, when in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} {when} FOR EACH STATEMENT "
            "EXECUTE FUNCTION product_count_apply()"
        )


def upgrade() -> None:
    _ensure_pg_trgm()
    _create_trigram_indexes()
    # Writers wait for the count's first value, so none is missed between it and the triggers.
    op.execute("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
    _create_product_count()


def downgrade() -> None:
    # The extension and the trigram indexes stay: the first revision makes them wherever
    # pg_trgm can be created, and its own downgrade removes them.
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON products")
    op.execute("DROP FUNCTION product_count_apply()")
    op.drop_table("product_count")
