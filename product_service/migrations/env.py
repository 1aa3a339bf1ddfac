"""Alembic environment of the product service."""

from product_service.models import Base
from shop_common.migrations import run_migrations

run_migrations(Base.metadata, env_prefix="PRODUCT_SERVICE_")
