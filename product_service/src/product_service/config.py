"""Product service settings (`PRODUCT_SERVICE_*`, the user service's URL and secret, and the
shared unprefixed ones)."""

from pydantic_settings import SettingsConfigDict

from shop_contracts.authentication import UserServiceSettings

__all__ = ["Settings"]


class Settings(UserServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRODUCT_SERVICE_", extra="ignore", populate_by_name=True
    )

    service_name: str = "product"
    # Short on purpose: it bounds how long a reader that fetched a product just before a
    # change committed, and cached it just after, can keep serving the old version.
    product_cache_ttl_seconds: int = 60
