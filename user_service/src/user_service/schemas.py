"""Request and response bodies of the user service."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shop_common.schemas import NOT_WHITESPACE, InputModel, partial_update_schema

__all__ = [
    "PASSWORD_PATTERN",
    "ChangePasswordRequest",
    "Email",
    "LoginRequest",
    "LogoutRequest",
    "ProfileUpdate",
    "RefreshRequest",
    "RegisterRequest",
    "TokenPair",
    "UserRead",
]


def _normalize_email(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _check_email(value: str) -> str:
    # email-validator's syntax rules (no DNS lookup): control and zero-width characters,
    # dots in the wrong places and malformed domains are refused. The trimmed, lower-cased
    # value is kept as given so stored emails compare as before.
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"value is not a valid email address: {error}") from None
    return value


def _any_case(name: str) -> str:
    return "".join(f"[{ch.upper()}{ch}]" if ch.isalpha() else re.escape(ch) for ch in name)


# email-validator refuses special-use domains (`.test`, `.local`, ...) whatever
# `check_deliverability` says; the schema's `format: email` allows them, so its pattern
# leaves them out (any case: emails are lower-cased after the check of the schema).
RESERVED_DOMAIN_EXCLUDED = (
    r"^(?![\s\S]*[.@](?:"
    + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    + r")\s*$)"
)
Email = Annotated[
    str,
    BeforeValidator(_normalize_email),
    Field(
        max_length=254,
        json_schema_extra={"format": "email", "pattern": RESERVED_DOMAIN_EXCLUDED},
        examples=["ada@example.com"],
        description=(
            "Trimmed and lower-cased, at most 254 characters, checked for syntax by"
            " email-validator (no DNS). A syntactically invalid email is 422 on"
            ' ["body", "email"] everywhere, login included: no account can have such an'
            " email, so this reveals nothing about accounts."
        ),
    ),
    AfterValidator(_check_email),
]
Password = Annotated[str, Field(min_length=1, max_length=1024, examples=["Str0ng!Passw0rd"])]
# The password rules (passwords.password_problems) as far as a JSON Schema can say them:
# 8..128 characters, no whitespace (nor NUL), an upper-case and a lower-case letter, a digit
# and a special character. The schema names ASCII ones only, a subset of what the rules
# accept, so a password valid for the schema is accepted unless it contains the email's
# local part: that rule spans two fields and no schema can state it (docs/decisions.md).
# It ends with `(?![\s\S])`, not `$`: Python's `$` also matches before a final newline.
PASSWORD_PATTERN = (
    r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[!-/:-@\[-`{-~])"  # noqa: S105 - a pattern
    + NOT_WHITESPACE
    + r"{8,128}(?![\s\S])"
)
NewPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        examples=["Str0ng!Passw0rd"],
        description="8 to 128 characters, no whitespace, at least one upper-case letter, one"
        " lower-case letter, one digit and one special character; must not contain the"
        " email's local part. Each broken rule is a `details` entry of the 422.",
        json_schema_extra={"pattern": PASSWORD_PATTERN, "minLength": 8, "maxLength": 128},
    ),
]
Name = Annotated[str, Field(max_length=100)]


class RegisterRequest(InputModel):
    email: Email
    password: NewPassword
    name: Name = ""


class LoginRequest(InputModel):
    email: Email
    password: Password


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutRequest(RefreshRequest):
    pass


class ProfileUpdate(InputModel):
    """At least one field (the schema's `minProperties`); `null` counts as absent, so the
    schema leaves it out of the fields' types."""

    model_config = ConfigDict(json_schema_extra=partial_update_schema)

    email: Email | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _something_to_update(self) -> "ProfileUpdate":
        if self.email is None and self.name is None:
            raise ValueError("Provide at least one of: email, name")
        return self


class ChangePasswordRequest(InputModel):
    old_password: Password
    new_password: NewPassword


class TokenPair(BaseModel):
    access: str
    refresh: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - not a secret


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    created_at: datetime
    modified_at: datetime
