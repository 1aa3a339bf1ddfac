"""Request and response bodies of the user service."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from shop_common.schemas import InputModel

__all__ = [
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

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _normalize_email(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("value is not a valid email address")
    return value


Email = Annotated[
    str,
    BeforeValidator(_normalize_email),
    Field(max_length=254, examples=["ada@example.com"]),
    AfterValidator(_check_email),
]
Password = Annotated[str, Field(min_length=1, max_length=1024, examples=["Str0ng!Passw0rd"])]
Name = Annotated[str, Field(max_length=100)]


class RegisterRequest(InputModel):
    email: Email
    password: Password
    name: Name = ""


class LoginRequest(InputModel):
    email: Email
    password: Password


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutRequest(RefreshRequest):
    pass


class ProfileUpdate(InputModel):
    email: Email | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _something_to_update(self) -> "ProfileUpdate":
        if self.email is None and self.name is None:
            raise ValueError("Provide at least one of: email, name")
        return self


class ChangePasswordRequest(InputModel):
    old_password: Password
    new_password: Password


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
