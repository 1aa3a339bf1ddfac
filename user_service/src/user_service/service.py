"""Business rules of the user service. Raises `AppError`s; flushes, and commits only through
`shop_common.db.commit_early` (login before its hash, a refresh replay before its 401)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop_common.db import commit_early
from shop_common.errors import BadRequest, Conflict, Unauthorized, ValidationFailed
from shop_common.rate_limit import RateLimiter
from user_service import repository
from user_service.models import User
from user_service.passwords import hash_password, password_problems, verify_password
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
    "authenticate",
    "change_password",
    "delete_account",
    "login",
    "logout",
    "refresh",
    "register",
    "update_profile",
]

INVALID_CREDENTIALS = "Invalid email or password"


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


async def _issue_pair(
    session: AsyncSession, tokens: TokenIssuer, user_id: uuid.UUID, family_id: uuid.UUID
) -> TokenPair:
    access, _ = tokens.issue(user_id, "access")
    refresh_token, claims = tokens.issue(user_id, "refresh")
    await repository.add_refresh_token(
        session,
        jti=claims.jti,
        user_id=user_id,
        family_id=family_id,
        token_hash=hash_token(refresh_token),
        expires_at=datetime.fromtimestamp(claims.exp, UTC),
    )
    return TokenPair(access=access, refresh=refresh_token)


async def register(
    session: AsyncSession, tokens: TokenIssuer, *, data: RegisterRequest
) -> TokenPair:
    _check_password_rules(data.password, data.email, "password")
    # Hashed before the first query, so no pooled connection waits on the hash.
    password_hash = await hash_password(data.password)
    if await repository.get_user_by_email(session, data.email) is not None:
        raise Conflict("A user with this email already exists", code="email_taken")
    try:
        user = await repository.create_user(
            session, email=data.email, name=data.name, password_hash=password_hash
        )
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("A user with this email already exists", code="email_taken") from exc
    return await _issue_pair(session, tokens, user.id, uuid.uuid4())


async def login(
    session: AsyncSession, tokens: TokenIssuer, limiter: RateLimiter, *, data: LoginRequest
) -> TokenPair:
    # Every attempt is counted before the password is checked, so concurrent guesses cannot
    # slip past the limit; a success clears the count, leaving only failures counted.
    retry_after = await limiter.consume("login_account", data.email)
    if retry_after is not None:
        raise limiter.refusal(
            "login_account", retry_after, "Too many failed logins for this account, try again later"
        )
    user = await repository.get_user_by_email(session, data.email)
    await commit_early(session)  # hand the connection back to the pool while the hash runs
    valid = await verify_password(user.password_hash if user else None, data.password)
    if user is None or not valid:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    await limiter.clear("login_account", data.email)
    return await _issue_pair(session, tokens, user.id, uuid.uuid4())


async def refresh(session: AsyncSession, tokens: TokenIssuer, *, refresh_token: str) -> TokenPair:
    claims = tokens.decode(refresh_token, "refresh")
    stored = await repository.get_refresh_token_for_update(session, hash_token(refresh_token))
    if stored is None or stored.user_id != claims.sub:
        raise Unauthorized("Invalid refresh token", code="invalid_token")
    if stored.used_at is not None or stored.revoked_at is not None:
        # A spent token came back: someone may hold a stolen copy, so end the whole chain.
        await repository.revoke_refresh_family(session, stored.family_id, now=_now())
        await commit_early(session)  # the revocation stands although this request fails
        raise Unauthorized("Refresh token already used or revoked", code="invalid_token")
    stored.used_at = _now()
    return await _issue_pair(session, tokens, claims.sub, stored.family_id)


async def authenticate(
    session: AsyncSession, tokens: TokenIssuer, denylist: Denylist, *, access_token: str
) -> Authenticated:
    """Resolve an access token to a live user, or raise 401."""
    claims = tokens.decode(access_token, "access")
    if await denylist.contains(claims):
        raise Unauthorized("Token has been revoked", code="invalid_token")
    user = await repository.get_user(session, claims.sub)
    if user is None:
        raise Unauthorized("Invalid or expired token", code="invalid_token")
    if user.tokens_valid_after and claims.iat < user.tokens_valid_after.timestamp():
        raise Unauthorized("Token has been revoked", code="invalid_token")
    return Authenticated(user, claims)


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
        raise Unauthorized("Invalid refresh token", code="invalid_token")
    if stored.revoked_at is None:
        stored.revoked_at = _now()
    await session.flush()
    await denylist.add(auth.claims)


async def update_profile(session: AsyncSession, *, user: User, data: ProfileUpdate) -> User:
    if data.email is not None and data.email != user.email:
        if await repository.get_user_by_email(session, data.email) is not None:
            raise Conflict("A user with this email already exists", code="email_taken")
        user.email = data.email
    if data.name is not None:
        user.name = data.name
    user.modified_at = _now()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A user with this email already exists", code="email_taken") from exc
    return user


async def delete_account(session: AsyncSession, *, user: User) -> None:
    await repository.delete_user(session, user)


async def change_password(
    session: AsyncSession, *, user: User, data: ChangePasswordRequest
) -> None:
    _check_password_rules(data.new_password, user.email, "new_password")
    if data.new_password == data.old_password:
        raise ValidationFailed(
            details=[
                {
                    "loc": ["body", "new_password"],
                    "msg": "New password must differ from the old one",
                }
            ]
        )
    if not await verify_password(user.password_hash, data.old_password):
        raise BadRequest("Old password is incorrect", code="invalid_old_password")
    now = _now()
    user.password_hash = await hash_password(data.new_password)
    user.tokens_valid_after = now
    user.modified_at = now
    await repository.revoke_user_refresh_tokens(session, user.id, now=now)
    await session.flush()
