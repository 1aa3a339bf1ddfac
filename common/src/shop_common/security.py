"""Bearer-token parsing and the internal shared-secret check.

Internal routes accept `X-Internal-Secret` equal to the service's own secret or, during a
rotation, its previous one. Both are always compared, in constant time.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shop_common.errors import Forbidden, Unauthorized

__all__ = [
    "INTERNAL_PREFIX",
    "INTERNAL_SECRET_HEADER",
    "BearerTokenDep",
    "InternalSecretDep",
    "bearer_scheme",
    "require_internal_secret",
    "secret_matches",
]

# Every internal route lives under this path: no CORS, no cache, the secret required.
INTERNAL_PREFIX = "/internal/"
INTERNAL_SECRET_HEADER = "X-Internal-Secret"  # noqa: S105 - a header name, not a secret
# auto_error=False: we raise our own 401 in the error envelope.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from /api/v1/login/")


def secret_matches(presented: str, accepted: list[str]) -> bool:
    given = presented.encode()
    matched = False
    for candidate in accepted:
        matched |= hmac.compare_digest(given, candidate.encode())
    return matched


async def require_internal_secret(request: Request) -> None:
    presented = request.headers.get(INTERNAL_SECRET_HEADER, "")
    accepted = request.app.state.settings.accepted_secrets()
    if not presented or not secret_matches(presented, accepted):
        raise Forbidden("Missing or invalid internal secret", code="invalid_internal_secret")


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("Missing bearer token", code="not_authenticated")
    return credentials.credentials.strip()


BearerTokenDep = Annotated[str, Depends(bearer_token)]
InternalSecretDep = Depends(require_internal_secret)
