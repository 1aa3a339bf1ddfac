"""Redis ACL users on the embedded Redis: each service reaches only its own keys.

Every key a service writes starts with its `settings.redis_prefix`, "<service>:": the JSON
caches (`product:product:<id>`, `order:token:<hash>`), the user service's token denylist
(`user:denylist:<jti>`) and the rate limiter (`<service>:limits:LIMITER/...`, the `limits`
library's key_prefix). The commands are the ones those send: GET/SET/DEL/EXISTS/TTL, the
limiter's Lua script (EVALSHA, EVAL, SCRIPT LOAD, and INCRBY/EXPIRE inside it: scripts run
with the caller's permissions), PING for /ready, SELECT for the database number, and CLIENT
SETINFO / CLIENT MAINT_NOTIFICATIONS (redis-py sends them on connecting and ignores their
failure; refused, they would only fill the ACL LOG). Anything else (FLUSHALL, KEYS, CONFIG,
another service's keys) is refused.

The default user, which the servers' own tooling would use, gets a password too
(REDIS_ADMIN_PASSWORD in secrets.env), so a URL without credentials reaches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError
from sqlalchemy import make_url

from tools.native.layout import Failure
from tools.redis_commands import COMMANDS as REDIS_COMMANDS
from tools.redis_commands import NATIVE_ONLY

__all__ = ["COMMANDS", "check", "configure", "denials", "reset_log", "user_name"]

COMMANDS = (*REDIS_COMMANDS, *NATIVE_ONLY)
TIMEOUT_SECONDS = 5.0


def user_name(service: str) -> str:
    return f"{service}-service"


def _client(url: str, password: str | None = None) -> Redis:
    return Redis.from_url(url, password=password, socket_timeout=TIMEOUT_SECONDS)


def configure(base_url: str, admin_password: str, urls: Mapping[str, str]) -> None:
    """(Re)create each service's user with the password of its URL, then lock the default
    user. AUTH with the admin password succeeds before (default is `nopass`) and after."""
    with _client(base_url, admin_password) as admin:
        for service, url in urls.items():
            admin.execute_command(
                "ACL",
                "SETUSER",
                user_name(service),
                "reset",
                "on",
                f">{make_url(url).password}",
                f"~{service}:*",
                *(f"+{command}" for command in COMMANDS),
            )
        admin.execute_command("ACL", "SETUSER", "default", "on", "resetpass", f">{admin_password}")


def _refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except (ResponseError, AuthenticationError):
        return True
    return False


def check(base_url: str, urls: Mapping[str, str]) -> None:
    """Prove the rules hold: each service's URL writes its own keys and is refused another
    service's keys and any other command; a URL without credentials is refused."""
    problems = []
    for service, url in urls.items():
        with _client(url) as client:
            own = f"{service}:acl-check"
            client.set(own, b"1", ex=10)
            client.delete(own)
            for other in urls:
                if other != service and not _refused(partial(client.get, f"{other}:x")):
                    problems.append(f"{service} can read {other}'s keys")
            # A harmless command outside the list (never a destructive one as a probe).
            if not _refused(partial(client.config_get, "maxmemory")):
                problems.append(f"{service} can run CONFIG")
    with _client(base_url) as anyone:
        if not _refused(anyone.ping):
            problems.append("the default user needs no password")
    if problems:
        raise Failure("the Redis ACL check failed: " + "; ".join(problems))


def denials(base_url: str, admin_password: str) -> list[str]:
    """What Redis refused the services since the log was last reset (ACL LOG): a service
    fails open on a refusal, so only this shows a command or key missing from the rules."""
    with _client(base_url, admin_password) as admin:
        entries = cast(list[dict[str, Any]], admin.acl_log())
    return [
        f"{e.get('username')} {e.get('reason')} {e.get('object')} x{e.get('count')}"
        for e in entries
    ]


def reset_log(base_url: str, admin_password: str) -> None:
    """Empty the ACL LOG (after `check`, whose refusals are meant)."""
    with _client(base_url, admin_password) as admin:
        admin.acl_log_reset()
