"""The user service's own errors: each says its status, code, message and description once,
for the answer and for the OpenAPI schema (routes list them in `error_responses`)."""

from shop_common.errors import BadRequest, Conflict, Unauthorized

__all__ = ["EmailTaken", "InvalidCredentials", "InvalidOldPassword"]


class EmailTaken(Conflict):
    code = "email_taken"
    message = "A user with this email already exists"
    description = "Another account has this email"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "Invalid email or password"
    description = "Unknown email or wrong password (one answer for both)"


class InvalidOldPassword(BadRequest):
    code = "invalid_old_password"
    message = "Old password is incorrect"
    description = "`old_password` is not the account's password"
