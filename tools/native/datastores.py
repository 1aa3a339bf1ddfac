"""The PostgreSQL and Redis a native system uses, and each service's URLs on them.

DATABASE_URL / REDIS_URL name servers of the operator's; without them an embedded
PostgreSQL and Redis (scripts/embedded.py) are started under $RUN_DIR/embedded and stopped
again by `stop`. The databases user_db, product_db and order_db (after DB_NAME_PREFIX) are
created when missing. A per-service *_DATABASE_URL / *_REDIS_URL always wins.

On the embedded Redis every service gets its own ACL user (redis_acl.py); on the
operator's REDIS_URL the URL is used as it is, each service on its own database number, and
ACLs are the operator's job.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from tools.native import redis_acl
from tools.native.layout import ROOT, Failure, Layout, log
from tools.native.secret_file import redis_password_name

__all__ = [
    "Datastores",
    "acl_urls",
    "embedded_redis_url",
    "masked",
    "prepare",
    "stop_embedded",
]

REDIS_DATABASES = {"user": 0, "product": 1, "order": 2}
EMBEDDED = str(ROOT / "scripts" / "embedded.py")


def masked(url: str) -> str:
    """`url` with its password replaced by ***, fit to print or log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<an unparsable URL>"


def _with(url: str, **parts: str | int | None) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Datastores:
    """Each service's database and Redis URL (passwords included: never print them)."""

    database_urls: dict[str, str]
    redis_urls: dict[str, str]


def _run_embedded(layout: Layout, *args: str, server_url: str = "") -> str:
    python = str(layout.venv_bin / "python")
    env = {**os.environ, "SERVER_URL": server_url}
    done = subprocess.run(
        [python, EMBEDDED, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Failure(f"scripts/embedded.py {args[0]} failed: {last}")
    return done.stdout


def start_embedded(layout: Layout) -> tuple[str, str]:
    """Start (or find running) the embedded servers: their PostgreSQL and Redis URLs."""
    log(f"starting embedded PostgreSQL/Redis (data in {layout.embedded_dir})")
    out = _run_embedded(
        layout, "start", str(layout.embedded_dir), "--redis-port", str(layout.embedded_redis_port)
    )
    layout.embedded_marker.touch()
    urls = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        urls[name] = value.strip("'")
    return urls["EMBEDDED_DATABASE_URL"], urls["EMBEDDED_REDIS_URL"]


def stop_embedded(layout: Layout) -> None:
    if layout.embedded_marker.exists():
        log(f"stopping the embedded PostgreSQL/Redis (data kept in {layout.embedded_dir})")
        _run_embedded(layout, "stop", str(layout.embedded_dir))
        layout.embedded_marker.unlink(missing_ok=True)


def _databases(layout: Layout, server: str) -> dict[str, str]:
    names = [f"{layout.db_name_prefix}{s}_db" for s in layout.services]
    try:
        out = _run_embedded(layout, "databases", "-", *names, server_url=server)
    except Failure as exc:
        raise Failure(f"could not create the databases on {masked(server)}: {exc}") from None
    return dict(zip(layout.services, out.splitlines(), strict=True))


def prepare(layout: Layout, env: Mapping[str, str], secrets: Mapping[str, str]) -> Datastores:
    """Start what is missing, create the databases, and build every service's URLs."""
    server, redis = env.get("DATABASE_URL", ""), env.get("REDIS_URL", "")
    embedded_redis = ""
    if not server or not redis:
        embedded_server, embedded_redis = start_embedded(layout)
        server = server or embedded_server
    databases = _databases(layout, server)
    if redis:
        redis_urls = {s: _with(redis, database=str(REDIS_DATABASES[s])) for s in layout.services}
    else:
        redis_urls = _acl_urls(layout, embedded_redis, secrets)
    for service in layout.services:
        prefix = f"{service.upper()}_SERVICE_"
        databases[service] = env.get(f"{prefix}DATABASE_URL") or databases[service]
        redis_urls[service] = env.get(f"{prefix}REDIS_URL") or redis_urls[service]
    return Datastores(databases, redis_urls)


def acl_urls(layout: Layout, base: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """Each service's URL on our embedded Redis `base`: its ACL user, its database."""
    return {
        s: _with(
            base,
            username=redis_acl.user_name(s),
            password=secrets[redis_password_name(s)],
            database=str(REDIS_DATABASES[s]),
        )
        for s in layout.services
    }


def embedded_redis_url(layout: Layout) -> str:
    """The base URL of the embedded Redis (no user, database 0), from its port file."""
    port_file = layout.embedded_dir / "redis" / "redis.port"
    try:
        return f"redis://127.0.0.1:{int(port_file.read_text())}/0"
    except (OSError, ValueError):
        raise Failure(f"no embedded Redis under {layout.embedded_dir}") from None


def _acl_urls(layout: Layout, base: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """One ACL user per service on our embedded Redis, checked before anything uses it."""
    urls = acl_urls(layout, base, secrets)
    admin = secrets[redis_password_name("admin")]
    redis_acl.configure(base, admin, urls)
    redis_acl.check(base, urls)
    redis_acl.reset_log(base, admin)
    return urls
