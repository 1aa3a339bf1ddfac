"""Settings base shared by every service, read from the environment with pydantic-settings.

Each service subclasses `ServiceSettings` with its own `env_prefix` (`USER_SERVICE_`, ...).
Fields that are the same in every service (rate limits, CORS, environment) are read from
unprefixed variables so one `.env` serves the whole system.
"""

import ipaddress
import os
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ServiceSettings", "is_placeholder_secret", "secret_weakness", "shared"]

Environment = Literal["development", "test", "production"]
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "placeholder", "your-secret")
MIN_SECRET_LENGTH = 32
# "k" * 40 is long enough but guessable; a random value of 32 characters from any usual
# alphabet (hex, base64) has far more distinct characters than this.
MIN_DISTINCT_CHARACTERS = 16


def shared(name: str, default: Any, **kwargs: Any) -> Any:
    """A field read from the unprefixed variable `name`, common to every service."""
    return Field(default, validation_alias=AliasChoices(name, name.lower()), **kwargs)


def is_placeholder_secret(value: str) -> bool:
    return secret_weakness(value) is not None


def secret_weakness(value: str) -> str | None:
    """Why `value` cannot serve as a secret outside development, or None when it can."""
    lowered = value.lower()
    if not value:
        return "is missing"
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "is a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    return None


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class ServiceSettings(BaseSettings):
    """Configuration every service shares; subclasses add their own fields and prefix."""

    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    service_name: str = "service"
    environment: Environment = shared("ENVIRONMENT", "production")
    log_level: str = shared("LOG_LEVEL", "INFO")
    # URLs carry passwords: SecretStr keeps them out of reprs, dumps and error messages.
    database_url: SecretStr = SecretStr("")
    redis_url: SecretStr = SecretStr("")
    redis_prefix: str = ""
    secret: SecretStr = SecretStr("")
    secret_previous: SecretStr = SecretStr("")
    # Every connection a worker may open is kept open: an overflow connection is closed on
    # return while the pool is full, and under a steady load that meant a new PostgreSQL
    # backend, and a prepare of every statement, for a good share of requests.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    # Every wait on the database is bounded, so a stalled or restarting server costs a
    # request a known time and then a 503 (docs/architecture.md, "Timeout budgets"):
    # waiting for a pooled connection, opening one, one statement (PostgreSQL's
    # `statement_timeout`, lock waits included), and a transaction left idle by a client
    # that died (`idle_in_transaction_session_timeout`, which frees its row locks).
    db_pool_timeout_seconds: float = shared("DB_POOL_TIMEOUT_SECONDS", 3.0, gt=0)
    db_connect_timeout_seconds: float = shared("DB_CONNECT_TIMEOUT_SECONDS", 3.0, gt=0)
    db_statement_timeout_seconds: float = shared("DB_STATEMENT_TIMEOUT_SECONDS", 5.0, gt=0)
    db_idle_in_transaction_timeout_seconds: float = shared(
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 10.0, gt=0
    )
    redis_timeout_seconds: float = 0.1
    # Set: internal routes and /metrics answer only on this port (shop_common.listeners).
    internal_port: int | None = shared("INTERNAL_PORT", None, ge=1, le=65535)

    cors_origins: CsvList = shared(
        "CORS_ORIGINS", ["http://localhost:3000", "http://localhost:5173"]
    )
    trusted_proxies: CsvList = shared("TRUSTED_PROXIES", [])
    rate_limit_enabled: bool = shared("RATE_LIMIT_ENABLED", True)
    rate_limit_default: str = shared("RATE_LIMIT_DEFAULT", "120/minute")
    rate_limit_auth: str = shared("RATE_LIMIT_AUTH", "20/minute")
    rate_limit_login_account: str = shared("RATE_LIMIT_LOGIN_ACCOUNT", "10/minute")
    rate_limit_write: str = shared("RATE_LIMIT_WRITE", "60/minute")

    _split = field_validator("cors_origins", "trusted_proxies", mode="before")(_split_csv)

    @model_validator(mode="after")
    def _fill_shared_urls(self) -> "ServiceSettings":
        # A per-service URL wins; a bare DATABASE_URL / REDIS_URL serves a single-service run.
        if not self.database_url.get_secret_value():
            self.database_url = SecretStr(os.environ.get("DATABASE_URL", ""))
        if not self.redis_url.get_secret_value():
            self.redis_url = SecretStr(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
        if not self.redis_prefix:
            self.redis_prefix = f"{self.service_name}:"
        if not self.database_url.get_secret_value():
            raise ValueError(f"{self.service_name}: a database URL is required")
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> "ServiceSettings":
        """Outside development every secret this service knows (its own, the previous one
        during a rotation, the JWT key, those of the services it calls) must be strong, and
        no two may be equal: one leaked value must not open a second door."""
        if self.environment == "development":
            return self
        seen: dict[str, str] = {}
        for name in self.secret_fields():
            value = getattr(self, name).get_secret_value()
            if name.endswith("_previous") and not value:
                continue  # no rotation under way
            weakness = secret_weakness(value)
            if weakness is not None:
                raise ValueError(
                    f"{name} {weakness}; set a random value of at least {MIN_SECRET_LENGTH} "
                    f"characters (ENVIRONMENT={self.environment})"
                )
            if value in seen:
                raise ValueError(
                    f"{name} equals {seen[value]}; every secret must be its own random value "
                    f"(ENVIRONMENT={self.environment})"
                )
            seen[value] = name
        return self

    @model_validator(mode="after")
    def _refuse_trusting_everyone(self) -> "ServiceSettings":
        """A proxy entry is an IP or a network; `0.0.0.0/0` or `::/0` would let any client
        pick its own address in `X-Forwarded-For` and so escape every per-IP limit."""
        for entry in self.trusted_proxies:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
            if network.prefixlen == 0 and self.environment != "development":
                raise ValueError(
                    f"TRUSTED_PROXIES must not trust every address ({entry}) "
                    f"(ENVIRONMENT={self.environment}); list the proxies' own addresses"
                )
        return self

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _explicit_origins(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("CORS_ORIGINS must list explicit origins, never *")
        return origins

    def db_transaction_budget_seconds(self) -> float:
        """The longest one transaction can wait on the database before it fails: a pooled
        connection, a new connection, then its statement (a failure fails fast after that)."""
        return (
            self.db_pool_timeout_seconds
            + self.db_connect_timeout_seconds
            + self.db_statement_timeout_seconds
        )

    def secret_fields(self) -> list[str]:
        """Names of the secrets that must be real outside development."""
        return ["secret", "secret_previous"]

    def accepted_secrets(self) -> list[str]:
        values = [self.secret.get_secret_value(), self.secret_previous.get_secret_value()]
        return [v for v in values if v]
