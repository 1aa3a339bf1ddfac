"""Order service settings (`ORDER_SERVICE_*`, plus the shared unprefixed ones)."""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shop_common.clients import call_budget_seconds
from shop_contracts.authentication import USER_CALL_ATTEMPTS, UserServiceSettings

__all__ = ["Settings"]


class Settings(UserServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDER_SERVICE_", extra="ignore", populate_by_name=True
    )

    service_name: str = "order"
    product_service_url: str = Field(
        "http://localhost:8002", validation_alias="PRODUCT_SERVICE_URL"
    )
    product_service_secret: SecretStr = Field(
        SecretStr(""), validation_alias="PRODUCT_SERVICE_SECRET"
    )
    internal_retries: int = Field(2, ge=0, le=5)
    # The reconciler: how often it runs, and how long a pending order (or an interrupted
    # delete) is left alone before it is considered abandoned. The grace period must stay
    # well above the longest saga step (timeout x attempts), so live requests are never
    # reconciled under their feet.
    reconciler_enabled: bool = True
    reconcile_interval_seconds: float = Field(10.0, gt=0)
    reconcile_grace_seconds: float = Field(30.0, gt=0)
    reconcile_batch_size: int = Field(100, ge=1)
    # Idempotency keys are remembered this long; a request meeting a key still in use
    # waits this long for the first request's answer before giving up with 409.
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=1)
    idempotency_wait_seconds: float = Field(15.0, ge=0)
    poll_interval_seconds: float = Field(0.05, gt=0)
    # The defence against hoarding (orders carry no payment): the units of one product a
    # user may hold in live orders (pending or confirmed) at once; 0 turns the bound off.
    # The default is ten full lines, far above normal use and the benchmarks' orders of one.
    # Off by default (docs/decisions.md, "Per-user bound off by default"); 10000 is a sane value.
    max_units_per_product_per_user: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _grace_outlasts_a_saga_step(self) -> "Settings":
        # A live create must never look abandoned: its reserve (every attempt timing out)
        # and its release must both fit in the grace period.
        longest_step = 2 * (self.internal_retries + 1) * self.internal_timeout_seconds
        if self.reconcile_grace_seconds <= longest_step:
            raise ValueError(
                f"reconcile_grace_seconds must exceed {longest_step:g} s "
                "(2 x attempts x internal_timeout_seconds)"
            )
        return self

    def gate_wait_seconds(self) -> float:
        """How long a create waits for its user's place (context.PerUserGate) before 503:
        twice a pooled connection's wait, since a burst of one user queues there."""
        return 2 * self.db_pool_timeout_seconds

    def route_budget_seconds(self, route: str) -> float:
        """The longest a public order route can take before it answers, every dependency
        timing out at once: the token check, the product calls and the transactions
        (docs/architecture.md, "Timeout budgets"). Loose by design: an upper bound."""
        token = call_budget_seconds(self.internal_timeout_seconds, USER_CALL_ATTEMPTS)
        product = call_budget_seconds(self.internal_timeout_seconds, self.internal_retries + 1)
        db = self.db_transaction_budget_seconds()
        # Under the per-user bound a create may first wait for its user's place in the
        # pool (context.PerUserGate), twice as long as for a pooled connection.
        gate = self.gate_wait_seconds() if self.max_units_per_product_per_user else 0.0
        budgets = {
            # start (a key in use is polled first), reserve, confirm; when the confirm is
            # refused or the reserve failed: release, then fail the order.
            "POST /api/v1/order/": token
            + 2 * product
            + 3 * db
            + gate
            + self.idempotency_wait_seconds,
            # claim, (release), finish.
            "DELETE /api/v1/order/{id}/": token + product + 2 * db,
            "GET /api/v1/order/": token + db,
            "GET /api/v1/order/{id}/": token + db,
        }
        return budgets[route]

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "product_service_secret"]
