"""Business rules of the user service. Raises `AppError`s; flushes, and commits only through
`shop_common.db.commit_early` (login and change-password before their hashes, a refresh
replay before its 401).

Sessions and password changes: every token carries its user's `token_generation` (`gen`),
which a password change bumps, so tokens from before a change are refused by generation,
never by comparing clocks. Writes that must not interleave with a password change or an
account deletion lock the user's row (`repository.lock_user`) before any token row, after
their hash, never across it.

Each logout, password change and deletion also appends an event to the account-event feed
(`repository.add_account_event`) in its own transaction, which the product and order
services read to drop the token resolutions they cache.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.db import Database, commit_early
from shop_common.errors import InvalidToken, ValidationFailed
from shop_common.rate_limit import RateLimiter
from user_service import repository
from user_service.errors import EmailTaken, InvalidCredentials, InvalidOldPassword
from user_service.models import AccountEvent, User
from user_service.passwords import (
    HashingSlots,
    hash_password,
    password_problems,
    verify_password,
)
from user_service.schemas import (
    ChangePasswordRequest,
    LoginRequest,
    ProfileUpdate,
    RegisterRequest,
    TokenPair,
)
from user_service.tokens import Claims, Denylist, TokenIssuer, hash_token

__all__ = [
    "Authenticated",
    "account_events",
    "authenticate",
    "change_password",
    "delete_account",
    "login",
    "logout",
    "read_profile",
    "refresh",
    "register",
    "update_profile",
]


# Password guesses, RATE_LIMIT_LOGIN_ACCOUNT: at login per (account, client network), so
# failures from one network never lock the owner out from another; at change-password per
# account (the caller already holds the account's token).
ACCOUNT_BUCKET = "login_account"


@dataclass(frozen=True)
class Authenticated:
    user: User
    claims: Claims


def _now() -> datetime:
    return datetime.now(UTC)


def _check_password_rules(password: str, email: str, field: str) -> None:
    problems = password_problems(password, email)
    if problems:
        raise ValidationFailed(details=[{"loc": ["body", field], "msg": p} for p in problems])


async def _count_attempt(limiter: RateLimiter, key: str, refused: str) -> None:
    """Count one password attempt under `key` before the password is checked, so
    concurrent guesses cannot slip past the limit; 429 with the bucket's headers once spent.
    A right password clears the count, so what it holds is the failures since the last
    success (the owner's own right passwords never add up to a lockout)."""
    retry_after = await limiter.consume(ACCOUNT_BUCKET, key)
    if retry_after is not None:
        raise limiter.refusal(ACCOUNT_BUCKET, retry_after, refused)


async def _lock_account(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The token's user, read afresh and locked for this write; 401 when the account was
    deleted since the token was checked (the update of a missing row was a 500)."""
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise InvalidToken()
    return user


async def _issue_pair(
    session: AsyncSession, tokens: TokenIssuer, user: User, family_id: uuid.UUID
) -> TokenPair:
    """Tokens of `user`'s current generation; the refresh token is stored."""
    access, _ = tokens.issue(user.id, "access", generation=user.token_generation)
    refresh_token, claims = tokens.issue(user.id, "refresh", generation=user.token_generation)
    await repository.add_refresh_token(
        session,
        jti=claims.jti,
        user_id=user.id,
        family_id=family_id,
        token_hash=hash_token(refresh_token),
        expires_at=datetime.fromtimestamp(claims.exp, UTC),
    )
    return TokenPair(access=access, refresh=refresh_token)


async def register(
    session: AsyncSession, tokens: TokenIssuer, hashing: HashingSlots, *, data: RegisterRequest
) -> TokenPair:
    _check_password_rules(data.password, data.email, "password")
    # Hashed before the first query, so no pooled connection waits on the hash.
    password_hash = await hash_password(hashing, data.password)
    if await repository.get_user_by_email(session, data.email) is not None:
        raise EmailTaken()
    try:
        user = await repository.create_user(
            session, email=data.email, name=data.name, password_hash=password_hash
        )
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTaken() from exc
    return await _issue_pair(session, tokens, user, uuid.uuid4())


async def login(
    session: AsyncSession,
    tokens: TokenIssuer,
    limiter: RateLimiter,
    hashing: HashingSlots,
    *,
    data: LoginRequest,
    network: str,
) -> TokenPair:
    """A new pair for the right password; 401, or 429 once `network` spent its failures."""
    key = f"{network}|{data.email}"  # a network never holds "|": one key per pair
    await _count_attempt(limiter, key, "Too many failed logins for this account, try again later")
    user = await repository.get_user_by_email(session, data.email)
    await commit_early(session)  # hand the connection back to the pool while the hash runs
    verified = user.password_hash if user else None
    valid = await verify_password(hashing, verified, data.password)
    if user is None or not valid:
        raise InvalidCredentials()
    # A password change or a deletion may have committed while the hash ran: the password
    # just verified must still be the account's. The share lock then holds both off until
    # this login's tokens are stored, so a change that follows ends them.
    current = await repository.lock_user(session, user.id, shared=True)
    if current is None or current.password_hash != verified:
        raise InvalidCredentials()
    await limiter.clear(ACCOUNT_BUCKET, key)
    return await _issue_pair(session, tokens, current, uuid.uuid4())


async def refresh(session: AsyncSession, tokens: TokenIssuer, *, refresh_token: str) -> TokenPair:
    claims = tokens.decode(refresh_token, "refresh")
    # The user's row before the token's, in the order a password change and a deletion lock
    # them: they queue behind this rotation instead of deadlocking with it.
    user = await repository.lock_user(session, claims.sub, shared=True)
    stored = await repository.get_refresh_token_for_update(session, hash_token(refresh_token))
    if user is None or stored is None or stored.user_id != claims.sub:
        raise InvalidToken("Invalid refresh token")
    spent = stored.used_at is not None or stored.revoked_at is not None
    if spent or claims.gen != user.token_generation:
        # A spent token came back (someone may hold a stolen copy), or one from before a
        # password change: end the whole chain.
        await repository.revoke_refresh_family(session, stored.family_id, now=_now())
        await commit_early(session)  # the revocation stands although this request fails
        raise InvalidToken("Refresh token already used or revoked")
    stored.used_at = _now()
    return await _issue_pair(session, tokens, user, stored.family_id)


async def authenticate(
    session: AsyncSession, tokens: TokenIssuer, denylist: Denylist, *, access_token: str
) -> Authenticated:
    """Resolve an access token to a live user, or raise 401."""
    claims = tokens.decode(access_token, "access")
    if await denylist.contains(claims):
        raise InvalidToken("Token has been revoked")
    user = await repository.get_user(session, claims.sub)
    return Authenticated(_live(claims, user), claims)


async def read_profile(
    database: Database, tokens: TokenIssuer, denylist: Denylist, *, access_token: str
) -> repository.ProfileRow:
    """The profile of the live user an access token names, or 401 as `authenticate`; read
    in one statement without a session (a hot path, docs/architecture.md)."""
    claims = tokens.decode(access_token, "access")
    if await denylist.contains(claims):
        raise InvalidToken("Token has been revoked")
    async with database.connection() as connection:
        user = await repository.get_user_profile(connection, claims.sub)
    return _live(claims, user)


LiveUser = TypeVar("LiveUser", User, repository.ProfileRow)


def _live(claims: Claims, user: LiveUser | None) -> LiveUser:
    """`user`, unless deleted or the token was issued before their last password change."""
    if user is None:
        raise InvalidToken()
    if claims.gen != user.token_generation:
        raise InvalidToken("Token has been revoked")
    return user


async def logout(
    session: AsyncSession,
    tokens: TokenIssuer,
    denylist: Denylist,
    *,
    auth: Authenticated,
    refresh_token: str,
) -> None:
    claims = tokens.decode(refresh_token, "refresh")
    stored = await repository.get_refresh_token_for_update(session, hash_token(refresh_token))
    if stored is None or claims.sub != auth.user.id:
        raise InvalidToken("Invalid refresh token")
    if stored.revoked_at is None:
        stored.revoked_at = _now()
    await session.flush()
    await denylist.add(auth.claims)
    await repository.add_account_event(
        session, kind="logout", user_id=auth.user.id, token_id=auth.claims.jti
    )


async def update_profile(session: AsyncSession, *, user: User, data: ProfileUpdate) -> User:
    user = await _lock_account(session, user.id)
    if data.email is not None and data.email != user.email:
        if await repository.get_user_by_email(session, data.email) is not None:
            raise EmailTaken()
        user.email = data.email
    if data.name is not None:
        user.name = data.name
    user.modified_at = _now()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken() from exc
    return user


async def delete_account(session: AsyncSession, *, user: User) -> None:
    await repository.delete_user(session, await _lock_account(session, user.id))
    await repository.add_account_event(session, kind="deleted", user_id=user.id)


async def change_password(
    session: AsyncSession,
    limiter: RateLimiter,
    hashing: HashingSlots,
    *,
    user: User,
    data: ChangePasswordRequest,
) -> None:
    """Set the new password and end every session of the user: refresh tokens revoked, the
    generation bumped so every earlier token is refused at once."""
    _check_new_password(data, user.email)
    verified = await _verify_old_password(session, limiter, hashing, user, data.old_password)
    new_hash = await hash_password(hashing, data.new_password)
    user = await _lock_account(session, user.id)  # after the hash, never across it
    if user.password_hash != verified:  # another change committed since the check
        raise InvalidOldPassword()
    now = _now()
    user.password_hash = new_hash
    user.token_generation += 1
    user.tokens_valid_after = user.modified_at = now
    await repository.revoke_user_refresh_tokens(session, user.id, now=now)
    await repository.add_account_event(
        session, kind="password_changed", user_id=user.id, generation=user.token_generation
    )


def _check_new_password(data: ChangePasswordRequest, email: str) -> None:
    _check_password_rules(data.new_password, email, "new_password")
    if data.new_password == data.old_password:
        message = "New password must differ from the old one"
        raise ValidationFailed(details=[{"loc": ["body", "new_password"], "msg": message}])


async def _verify_old_password(
    session: AsyncSession,
    limiter: RateLimiter,
    hashing: HashingSlots,
    user: User,
    old_password: str,
) -> str:
    """The hash `old_password` was verified against; 400 when wrong, 429 after too many
    wrong ones (counted per account like failed logins, keyed by the user's id so a new
    email does not reset it)."""
    key = f"user:{user.id}"
    await _count_attempt(limiter, key, "Too many wrong passwords for this account, try again later")
    verified = user.password_hash
    await commit_early(session)  # no connection, transaction or lock held while hashing
    if not await verify_password(hashing, verified, old_password):
        raise InvalidOldPassword()
    await limiter.clear(ACCOUNT_BUCKET, key)
    return verified


async def account_events(
    session: AsyncSession, *, after: int, limit: int
) -> Sequence[AccountEvent]:
    return await repository.list_account_events(session, after=after, limit=limit)
