"""The order service's own errors: each says its status, code, message and description once,
for the answer and for the OpenAPI schema (routes list them in `error_responses`)."""

from shop_common.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed

__all__ = [
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InsufficientStock",
    "OrderExpired",
    "OrderLimitExceeded",
    "OrderNotFound",
    "ProductNotFound",
    "ProductServiceUnavailable",
    "UserServiceUnavailable",
]


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "Order not found"
    description = "No such order for this user (someone else's order is not revealed)"


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "Product not found"
    description = "An ordered product does not exist (`details` names it)"


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    message = "Insufficient stock"
    description = "Not enough stock; `details` lists every short product"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still running"
    description = "A request with the same Idempotency-Key is still running"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with another body"
    description = "The Idempotency-Key was used before with another body"


class ProductServiceUnavailable(ServiceUnavailable):
    code = "product_service_unavailable"
    message = "The product service is unavailable, try again shortly"
    description = "The product service is unavailable; no order kept, no stock lost"


class OrderExpired(ServiceUnavailable):
    code = "order_expired"
    message = "The order expired while being placed, try again"
    description = "The order's reservation was released while it was being placed; try again"


class UserServiceUnavailable(ServiceUnavailable):
    code = "user_service_unavailable"
    message = "The user service is unavailable, try again shortly"
    description = "The user service (token check) is unavailable; try again"


class OrderLimitExceeded(Conflict):
    code = "order_limit_exceeded"
    message = "Too many units of a product in your open orders"
    description = (
        "The per-user bound on units of a product in pending and confirmed orders;"
        " `details`: product_id, requested, held, limit"
    )
