"""Stand-ins of the callees for the callers' tests, served through `httpx.MockTransport`.

They keep the contract of the real routes (docs/api.md); the real neighbour apps are tested
against the callers too (the order service's e2e tests, the product service's
test_auth_with_user_service.py).
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from shop_common.security import INTERNAL_SECRET_HEADER
from shop_contracts.user import ACCOUNT_EVENTS_PATH, AccountEvent, TokenUser

__all__ = ["FakeUserService"]


class FakeUserService:
    """Answers `POST /internal/v1/token/` like the user service: 403 for another secret, 401
    for an unknown token, else the token's user; and `GET /internal/v1/account-events/` from
    `events` (`publish` appends one). `requests` records every call but the feed's."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.users: dict[str, TokenUser] = {}
        self.events: list[AccountEvent] = []
        self.requests: list[httpx.Request] = []

    def add(self, name: str, token: str | None = None) -> tuple[TokenUser, str]:
        """A new user named `name`, and a bearer token that resolves to it."""
        user = TokenUser(id=uuid.uuid4(), email=f"{name}@example.com", name=name.title())
        token = token or f"token-{user.id.hex}"
        self.users[token] = user
        return user, token

    def publish(self, kind: str, user: TokenUser, **fields: Any) -> AccountEvent:
        """Append an event about `user` to the feed (`token_id`, `generation` as `fields`)."""
        seq = self.events[-1].seq + 1 if self.events else 1
        event = AccountEvent.model_validate(
            {"seq": seq, "type": kind, "user_id": user.id, "at": datetime.now(UTC), **fields}
        )
        self.events.append(event)
        return event

    def __call__(self, request: httpx.Request) -> httpx.Response:
        feed = request.url.path == ACCOUNT_EVENTS_PATH
        if not feed:
            self.requests.append(request)
        if request.headers.get(INTERNAL_SECRET_HEADER) != self.secret:
            return httpx.Response(
                403, json={"message": "Bad secret", "code": "invalid_internal_secret"}
            )
        if feed:
            return self._feed(request.url.params)
        user = self.users.get(json.loads(request.content)["token"])
        if user is None:
            return httpx.Response(401, json={"message": "Invalid token", "code": "invalid_token"})
        return httpx.Response(200, json={"data": user.model_dump(mode="json")})

    def _feed(self, params: httpx.QueryParams) -> httpx.Response:
        after, limit = int(params.get("after", 0)), int(params.get("limit", 500))
        page = [event for event in self.events if event.seq > after][:limit]
        return httpx.Response(200, json={"data": [e.model_dump(mode="json") for e in page]})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
