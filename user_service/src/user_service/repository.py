"""All SQL of the user service."""

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shop_common.db import insert, remove
from user_service.models import RefreshToken, User

__all__ = [
    "ProfileRow",
    "add_refresh_token",
    "create_user",
    "delete_user",
    "get_refresh_token_for_update",
    "get_user",
    "get_user_by_email",
    "get_user_profile",
    "lock_user",
    "revoke_refresh_family",
    "revoke_user_refresh_tokens",
]


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


ProfileRow = Row[uuid.UUID, str, str, datetime, datetime, int]
# Built once: SQLAlchemy compiles it once per process and asyncpg prepares it once per
# pooled connection, so a profile read is one round trip (the BIND and EXECUTE of it).
_PROFILE = select(
    User.id, User.email, User.name, User.created_at, User.modified_at, User.token_generation
).where(User.id == bindparam("user_id"))


async def get_user_profile(connection: AsyncConnection, user_id: uuid.UUID) -> ProfileRow | None:
    """What the profile shows of a user and their token generation, in one statement on an
    autocommit connection (`Database.connection`): no session, no BEGIN/COMMIT."""
    result = await connection.execute(_PROFILE, {"user_id": user_id})
    row: ProfileRow | None = result.first()
    return row


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def lock_user(
    session: AsyncSession, user_id: uuid.UUID, *, shared: bool = False
) -> User | None:
    """Read the user's row afresh and lock it until the transaction ends; None once deleted.

    Every write of the user service that a password change or an account deletion must not
    interleave with takes this lock before any other row of the user (their refresh tokens),
    so they queue instead of deadlocking. `shared` (FOR SHARE) is enough for a session being
    issued: sessions of one user do not wait for each other, a change or deletion waits for
    them all.
    """
    result = await session.execute(
        select(User)
        .where(User.id == user_id)
        .with_for_update(read=shared)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def create_user(session: AsyncSession, *, email: str, name: str, password_hash: str) -> User:
    return await insert(session, User(email=email, name=name, password_hash=password_hash))


async def delete_user(session: AsyncSession, user: User) -> None:
    await remove(session, user)


async def add_refresh_token(
    session: AsyncSession,
    *,
    jti: uuid.UUID,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
) -> None:
    session.add(
        RefreshToken(
            id=jti,
            user_id=user_id,
            family_id=family_id,
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def get_refresh_token_for_update(
    session: AsyncSession, token_hash: str
) -> RefreshToken | None:
    """Lock the row so two concurrent refreshes with one token cannot both succeed."""
    result = await session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    )
    return result.scalar_one_or_none()


async def revoke_refresh_family(
    session: AsyncSession, family_id: uuid.UUID, *, now: datetime
) -> None:
    await _revoke(session, RefreshToken.family_id == family_id, now=now)


async def revoke_user_refresh_tokens(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime
) -> None:
    await _revoke(session, RefreshToken.user_id == user_id, now=now)


async def _revoke(session: AsyncSession, which: ColumnElement[bool], *, now: datetime) -> None:
    """Revoke, at `now`, the refresh tokens `which` selects that are not revoked yet."""
    await session.execute(
        update(RefreshToken).where(which, RefreshToken.revoked_at.is_(None)).values(revoked_at=now)
    )
