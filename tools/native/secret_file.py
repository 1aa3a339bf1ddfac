"""The local secrets of a native system: generated once into $RUN_DIR/secrets.env (mode 600).

The services' secrets are exported to them (a value already in the environment wins); the
Redis passwords only go into the URLs built in datastores.py, never into an environment.
A file from an older run that lacks a name gets it added, the other values are kept.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from dotenv import dotenv_values

from tools.native.layout import log

__all__ = ["SERVICE_SECRETS", "ensure_secrets", "export_service_secrets", "redis_password_name"]

SERVICE_SECRETS = (
    "USER_SERVICE_SECRET",
    "PRODUCT_SERVICE_SECRET",
    "ORDER_SERVICE_SECRET",
    "USER_SERVICE_JWT_SECRET",
)


def redis_password_name(user: str) -> str:
    """The secrets.env name of a Redis ACL user's password (`admin` is the default user)."""
    return f"REDIS_{user.upper()}_PASSWORD"


def ensure_secrets(path: Path, names: Iterable[str]) -> dict[str, str]:
    """Every value of `path`, with a fresh random one for each of `names` it lacked."""
    values = {k: v for k, v in dotenv_values(path).items() if v} if path.exists() else {}
    missing = [name for name in names if name not in values]
    if missing:
        log(f"generating local secrets in {path}")
        values.update({name: secrets.token_urlsafe(48) for name in missing})
        _write(path, values)
    return values


def _write(path: Path, values: dict[str, str]) -> None:
    fresh = path.with_suffix(".tmp")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in values.items())
    fresh.replace(path)


def export_service_secrets(values: dict[str, str], env: MutableMapping[str, str]) -> None:
    for name in SERVICE_SECRETS:
        if not env.get(name):
            env[name] = values[name]
