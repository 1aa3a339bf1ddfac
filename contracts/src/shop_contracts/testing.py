"""Stand-ins of the callees for the callers' tests, served through `httpx.MockTransport`.

They keep the contract of the real routes (docs/api.md); the real neighbour apps are tested
against the callers too (the order service's e2e tests, the product service's
test_auth_with_user_service.py).
"""

import json
import uuid

import httpx

from shop_common.security import INTERNAL_SECRET_HEADER
from shop_contracts.user import TokenUser

__all__ = ["FakeUserService"]


class FakeUserService:
    """Answers `POST /internal/v1/token/` like the user service: 403 for another secret, 401
    for an unknown token, else the token's user. `requests` records every call."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.users: dict[str, TokenUser] = {}
        self.requests: list[httpx.Request] = []

    def add(self, name: str, token: str | None = None) -> tuple[TokenUser, str]:
        """A new user named `name`, and a bearer token that resolves to it."""
        user = TokenUser(id=uuid.uuid4(), email=f"{name}@example.com", name=name.title())
        token = token or f"token-{user.id.hex}"
        self.users[token] = user
        return user, token

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get(INTERNAL_SECRET_HEADER) != self.secret:
            return httpx.Response(
                403, json={"message": "Bad secret", "code": "invalid_internal_secret"}
            )
        user = self.users.get(json.loads(request.content)["token"])
        if user is None:
            return httpx.Response(401, json={"message": "Invalid token", "code": "invalid_token"})
        return httpx.Response(200, json={"data": user.model_dump(mode="json")})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
