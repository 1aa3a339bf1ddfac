"""The product service's own errors: each says its status, code, message and description
once, for the answer and for the OpenAPI schema (routes list them in `error_responses`)."""

from shop_common.errors import Conflict, Forbidden, NotFound, ServiceUnavailable

__all__ = [
    "InsufficientStock",
    "NotProductOwner",
    "ProductNameTaken",
    "ProductNotFound",
    "ReservationReleased",
    "UserServiceUnavailable",
]


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "Product not found"
    description = "No product with this id (a reserve names each unknown one in `details`)"


class ProductNameTaken(Conflict):
    code = "product_name_taken"
    message = "You already have a product with this name"
    description = "The caller already has a product with this name"


class NotProductOwner(Forbidden):
    code = "not_product_owner"
    message = "Only the product's creator can change it"
    description = "The caller did not create this product"


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    message = "Insufficient stock"
    description = "Not enough stock; `details` lists every short product (requested, available)"


class ReservationReleased(Conflict):
    code = "reservation_released"
    message = "This order's reservation was released; use a new order id"
    description = "The order's reservation was released before this reserve"


class UserServiceUnavailable(ServiceUnavailable):
    code = "user_service_unavailable"
    message = "The user service is unavailable, try again shortly"
    description = "The user service (token check) is unavailable; try again"
