"""Tables of the user service."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shop_common.db import ModelDefaults, service_metadata

__all__ = ["SCHEMA_REVISIONS", "AccountEvent", "Base", "RefreshToken", "User"]


# migrations/versions, oldest first, for /ready (create_service_app's schema_revisions);
# tests/test_migrations.py fails until a new migration is added here.
SCHEMA_REVISIONS = ("d00743bac25d", "29db6f1e4c87", "5b0e7c4a9d21")


class Base(ModelDefaults, DeclarativeBase):
    metadata = service_metadata()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped by every password change. Each token carries the generation it was issued in
    # (claim `gen`); one from an earlier generation is refused. A counter, not a time: no
    # clock resolution or skew between replicas can let a token from before a change through.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the last password change ended every session (a record; checks use the generation).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    modified_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RefreshToken(Base):
    """One issued refresh token, stored as a SHA-256 hash; rotation chains share a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the token's jti
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccountEvent(Base):
    """One entry of the account-event feed (`shop_contracts.user.AccountEvent`): a logout
    (`token_id`, the access token's jti), a password change (`generation`, the new token
    generation) or a deletion. No foreign key: a deletion's event outlives its user."""

    __tablename__ = "account_events"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID]
    token_id: Mapped[uuid.UUID | None]
    generation: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
