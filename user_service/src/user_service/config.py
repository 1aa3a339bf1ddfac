"""User service settings (`USER_SERVICE_*`, plus the shared unprefixed ones)."""

import os

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shop_common.settings import ServiceSettings

__all__ = ["Settings"]


def default_hash_slots() -> int:
    """About one argon2 hash at once per core for the whole service: the cores divided among
    its worker processes, at least one each. With the cores per process instead, 2 workers on
    2 cores hashed 4 at once during a login flood and the profile route's p99 grew 6.7x
    (issue 12's target is 3x)."""
    workers = int(os.environ.get("WEB_CONCURRENCY", "1") or "1")
    return max(1, (os.cpu_count() or 2) // max(1, workers))


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="USER_SERVICE_", extra="ignore", populate_by_name=True
    )

    service_name: str = "user"
    jwt_secret: SecretStr = SecretStr("")
    jwt_issuer: str = "shop-user-service"
    jwt_audience: str = "shop"
    jwt_leeway_seconds: int = 10
    access_token_minutes: int = Field(15, ge=1)
    # When set (> 0), the access-token life in seconds instead of the minutes above: for tests
    # of expiry and refresh (the storefront's browser tests run with a few seconds).
    access_token_seconds: int = Field(0, ge=0)
    refresh_token_days: int = 7
    # argon2 hashes at once per process (passwords.HashingSlots), how many requests may wait
    # for one, and how long, before a 429. The queue holds an ordinary burst (a client
    # registering a few dozen accounts at once is served); only a flood beyond it is refused.
    # The default shares the cores among the service's worker processes (WEB_CONCURRENCY).
    password_hash_slots: int = Field(default_factory=default_hash_slots, ge=1)
    password_hash_max_waiting: int = Field(32, ge=0)
    password_hash_wait_seconds: float = Field(1.0, ge=0)

    @property
    def access_token_lifetime_seconds(self) -> int:
        return self.access_token_seconds or self.access_token_minutes * 60

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "jwt_secret"]
