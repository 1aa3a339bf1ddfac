"""User service settings (`USER_SERVICE_*`, plus the shared unprefixed ones)."""

import os

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shop_common.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="USER_SERVICE_", extra="ignore", populate_by_name=True
    )

    service_name: str = "user"
    jwt_secret: SecretStr = SecretStr("")
    jwt_issuer: str = "shop-user-service"
    jwt_audience: str = "shop"
    jwt_leeway_seconds: int = 10
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    # argon2 hashes at once per process (passwords.HashingSlots), how many requests may wait
    # for one, and how long, before a 429. The queue holds an ordinary burst (a client
    # registering a few dozen accounts at once is served); only a flood beyond it is refused.
    password_hash_slots: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    password_hash_max_waiting: int = Field(32, ge=0)
    password_hash_wait_seconds: float = Field(1.0, ge=0)

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "jwt_secret"]
