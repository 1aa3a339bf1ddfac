"""JWT access and refresh tokens (PyJWT, HS256 pinned) and the Redis denylist for logouts."""

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from redis.asyncio import Redis

from shop_common.errors import ServiceUnavailable, Unauthorized
from shop_common.redis import redis_fail_open
from user_service.config import Settings

__all__ = ["Claims", "Denylist", "TokenIssuer", "TokenType", "hash_token"]

logger = logging.getLogger(__name__)
TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "type", "jti", "iat", "exp", "iss", "aud"]


@dataclass(frozen=True)
class Claims:
    sub: uuid.UUID
    type: TokenType
    jti: uuid.UUID
    iat: float
    exp: int
    gen: int = 0  # the user's token generation at issue; absent (older tokens): 0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    def __init__(self, settings: Settings) -> None:
        key = settings.jwt_secret.get_secret_value()
        if not key:  # development without a configured key: tokens die with the process
            logger.warning("USER_SERVICE_JWT_SECRET is not set; using a random key")
            key = secrets.token_urlsafe(48)
        self._key = key
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = min(settings.jwt_leeway_seconds, 30)
        self.lifetimes = {
            "access": settings.access_token_lifetime_seconds,
            "refresh": settings.refresh_token_days * 86400,
        }

    def issue(
        self, user_id: uuid.UUID, token_type: TokenType, *, generation: int
    ) -> tuple[str, Claims]:
        """A signed token; `generation` is the user's `token_generation`, which a password
        change bumps, so tokens issued before the change are told apart by it (`gen`), never
        by their `iat`."""
        now = time.time()
        expires = int(now) + self.lifetimes[token_type]
        claims = Claims(user_id, token_type, uuid.uuid4(), round(now, 6), expires, generation)
        payload = {
            "sub": str(claims.sub),
            "type": token_type,
            "jti": str(claims.jti),
            "iat": claims.iat,
            "exp": claims.exp,
            "iss": self.issuer,
            "aud": self.audience,
            "gen": generation,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def decode(self, token: str, expected: TokenType) -> Claims:
        """Verify signature, algorithm, claims and type; any failure is a 401."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
            claims = Claims(
                sub=uuid.UUID(str(payload["sub"])),
                type=payload["type"],
                jti=uuid.UUID(str(payload["jti"])),
                iat=float(payload["iat"]),
                exp=int(payload["exp"]),
                gen=int(payload.get("gen", 0)),
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid or expired token", code="invalid_token") from exc
        if claims.type != expected:
            raise Unauthorized(f"An {expected} token is required", code="invalid_token")
        return claims


class Denylist:
    """Access-token ids revoked by logout, kept in Redis until the token would expire."""

    def __init__(self, redis: Redis, prefix: str, *, service: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}denylist:"
        self.service = service

    async def add(self, claims: Claims) -> None:
        ttl = claims.exp - int(time.time()) + 30
        if ttl <= 0:
            return
        try:
            await self.redis.set(f"{self.prefix}{claims.jti}", b"1", ex=ttl)
        except Exception as exc:
            logger.error("could not denylist a logged-out token: %s", exc)
            raise ServiceUnavailable("Logout could not be recorded, try again shortly") from exc

    async def contains(self, claims: Claims) -> bool:
        try:
            return bool(await self.redis.exists(f"{self.prefix}{claims.jti}"))
        except Exception as exc:
            # Fail open: a Redis outage must not log everyone out; tokens still expire.
            redis_fail_open(self.service, "denylist", exc)
            return False
