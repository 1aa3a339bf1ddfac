"""`ServiceSettings`: weak secrets refused outside development, explicit CORS origins, the
shared unprefixed variables, and errors that never echo what they were given."""

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from shop_common.testing.secrets import strong_secret

from .testapp import CommonTestSettings

STRONG = strong_secret("common-settings")
DATABASE_URL = "postgresql+asyncpg://shop:hunter2-db-password@db/shop"


def build(**values: Any) -> CommonTestSettings:
    return CommonTestSettings(database_url=SecretStr(DATABASE_URL), **values)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "is missing"),
        ("short-but-random-Q7x", "is shorter than 32 characters"),
        ("change-me-" + "x" * 40, "is a placeholder"),
        ("PLACEHOLDER" + "x" * 40, "is a placeholder"),
    ],
    ids=["empty", "short", "change-me", "placeholder"],
)
@pytest.mark.parametrize("environment", ["production", "test"])
def test_a_weak_secret_is_refused_outside_development(
    secret: str, reason: str, environment: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        build(environment=environment, secret=secret)
    message = str(raised.value)
    assert f"secret {reason}; set a random value of at least 32 characters" in message
    assert f"ENVIRONMENT={environment}" in message


@pytest.mark.parametrize("secret", ["", "short", "change-me-" + "x" * 40])
def test_a_weak_secret_is_accepted_in_development(secret: str) -> None:
    settings = build(environment="development", secret=secret)
    assert settings.secret.get_secret_value() == secret


def test_a_strong_secret_is_accepted_and_an_empty_previous_one_is_optional() -> None:
    settings = build(environment="production", secret=STRONG)
    assert settings.accepted_secrets() == [STRONG]


def test_a_weak_previous_secret_is_refused_when_set() -> None:
    with pytest.raises(ValidationError) as raised:
        build(environment="production", secret=STRONG, secret_previous="old")
    assert "secret_previous is shorter than 32 characters" in str(raised.value)


def test_the_previous_secret_is_accepted_during_a_rotation() -> None:
    previous = strong_secret("common-settings-previous")
    settings = build(environment="production", secret=STRONG, secret_previous=previous)
    assert settings.accepted_secrets() == [STRONG, previous]


def test_the_environment_defaults_to_production() -> None:
    with pytest.raises(ValidationError):
        build(secret="short")
    assert build(secret=STRONG).environment == "production"


def test_a_wildcard_cors_origin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://shop.example, *")
    with pytest.raises(ValidationError) as raised:
        build(secret=STRONG)
    assert "CORS_ORIGINS must list explicit origins, never *" in str(raised.value)


def test_cors_origins_are_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", " https://a.example ,https://b.example,, ")
    assert build(secret=STRONG).cors_origins == ["https://a.example", "https://b.example"]


def test_shared_settings_are_read_from_unprefixed_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("RATE_LIMIT_DEFAULT", "7/second")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("ENVIRONMENT", "development")
    settings = build()
    assert settings.db_statement_timeout_seconds == 1.5
    assert settings.rate_limit_default == "7/second"
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert settings.environment == "development"
    assert settings.db_transaction_budget_seconds() == 3.0 + 3.0 + 1.5


def test_service_settings_are_read_from_prefixed_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMMON_TEST_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("COMMON_TEST_SECRET", STRONG)
    monkeypatch.setenv("COMMON_TEST_DB_POOL_SIZE", "3")
    settings = CommonTestSettings()
    assert (settings.database_url.get_secret_value(), settings.db_pool_size) == (DATABASE_URL, 3)
    assert settings.secret.get_secret_value() == STRONG
    assert settings.redis_prefix == "common:"


def test_a_database_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError) as raised:
        CommonTestSettings(secret=SecretStr(STRONG))
    assert "common: a database URL is required" in str(raised.value)


@pytest.mark.parametrize(
    "values",
    [
        {"secret": "hunter2-but-too-short"},
        {"secret": STRONG, "db_pool_size": "hunter2-not-a-number"},
        {"secret": STRONG, "db_statement_timeout_seconds": "-1"},
        {"secret": STRONG, "cors_origins": ["hunter2.example", "*"]},
    ],
    ids=["weak-secret", "bad-int", "out-of-range", "wildcard-origin"],
)
def test_a_settings_error_never_shows_the_values_it_was_given(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        build(**values)
    message = str(raised.value)
    assert "hunter2" not in message
    assert "input_value" not in message


def test_secrets_are_masked_in_the_settings_repr() -> None:
    settings = build(secret=STRONG)
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.model_dump())
