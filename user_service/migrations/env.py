"""Alembic environment of the user service."""

from shop_common.migrations import run_migrations
from user_service.models import Base

run_migrations(Base.metadata, env_prefix="USER_SERVICE_")
