"""Alembic environment of the order service."""

from order_service.models import Base
from shop_common.migrations import run_migrations

run_migrations(Base.metadata, env_prefix="ORDER_SERVICE_")
