"""Bearer-token parsing and the internal shared-secret check.

Internal routes accept `X-Internal-Secret` equal to the service's own secret or, during a
rotation, its previous one. Both are always compared, in constant time.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shop_common.errors import Forbidden, InvalidToken, Unauthorized

__all__ = [
    "INTERNAL_PREFIX",
    "INTERNAL_SECRET_HEADER",
    "MAX_BEARER_TOKEN_LENGTH",
    "BearerTokenDep",
    "InternalSecretDep",
    "bearer_scheme",
    "check_internal_secret",
    "internal_secret_scheme",
    "require_internal_secret",
    "secret_matches",
]

# Every internal route lives under this path: no CORS, no cache, the secret required.
INTERNAL_PREFIX = "/internal/"
INTERNAL_SECRET_HEADER = "X-Internal-Secret"  # noqa: S105 - a header name, not a secret
# Far above any token the user service issues; a longer one is refused as invalid here, before
# any service spends work on it or builds a call with it.
MAX_BEARER_TOKEN_LENGTH = 4096
# auto_error=False: we raise our own 401 in the error envelope.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from /api/v1/login/")
# Declared so the internal schema (/internal/openapi.json) documents the header.
internal_secret_scheme = APIKeyHeader(
    name=INTERNAL_SECRET_HEADER,
    scheme_name="InternalSecret",
    auto_error=False,
    description="The called service's own secret (or, during a rotation, its previous one)",
)


def secret_matches(presented: str, accepted: list[str]) -> bool:
    given = presented.encode()
    matched = False
    for candidate in accepted:
        matched |= hmac.compare_digest(given, candidate.encode())
    return matched


def check_internal_secret(request: Request, presented: str | None) -> None:
    """403 unless `presented` is one of the app's accepted internal secrets."""
    accepted = request.app.state.settings.accepted_secrets()
    if not presented or not secret_matches(presented, accepted):
        raise Forbidden("Missing or invalid internal secret", code="invalid_internal_secret")


async def require_internal_secret(
    request: Request, presented: Annotated[str | None, Depends(internal_secret_scheme)]
) -> None:
    check_internal_secret(request, presented)


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("Missing bearer token", code="not_authenticated")
    token = credentials.credentials.strip()
    if len(token) > MAX_BEARER_TOKEN_LENGTH:
        raise InvalidToken()
    return token


BearerTokenDep = Annotated[str, Depends(bearer_token)]
InternalSecretDep = Depends(require_internal_secret)
