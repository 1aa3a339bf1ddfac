"""Liveness, readiness and metrics routes, mounted by the app factory on every service.

`/ready` is not rate-limited (orchestrators' probes and the contract need it), so a flood
of it must not become a flood of database and Redis checks: each process checks at most
about once a second (`Readiness`), and callers that arrive while a check runs share it.

The database check also reads the schema's Alembic revision when the service names its
migrations (`schema_revisions`, oldest first): a database still at an older revision, or
with none, is `schema_behind` and the process is not ready. So a pod started before its
release's migration Job has finished takes no traffic (Kubernetes, MIGRATE_ON_START=0). A
revision the process does not know is newer, from the next release: ready, since a rolling
update runs the old code on the migrated schema for a while (migrations are additive).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shop_common.errors import sqlstate
from shop_common.metrics import DB_POOL_IN_USE, DB_POOL_MAX, DEPENDENCY_UP, metrics_response
from shop_common.routing import ShopRouter

__all__ = ["SCHEMA_BEHIND", "Readiness", "ops_router"]

logger = logging.getLogger(__name__)
READY_TIMEOUT_SECONDS = 2.0
# How long a result is reused: a success about a second; a failure only briefly, so a
# recovered dependency is seen at once, yet a flood during an outage stays one check.
READY_OK_TTL_SECONDS = 1.0
READY_FAILED_TTL_SECONDS = 0.25
ops_router = ShopRouter(tags=["ops"])
Checks = dict[str, str]
SCHEMA_BEHIND = "schema_behind"
# SQLSTATEs: no alembic_version table yet; a role that may not read it.
UNDEFINED_TABLE = "42P01"
INSUFFICIENT_PRIVILEGE = "42501"


@ops_router.get("/health-check/", summary="Liveness: the process answers")
async def health_check() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Awaitable[Any]) -> str:
    """The probe's own verdict when it gives one (a str), else "ok"; "unavailable" when it
    fails or times out."""
    try:
        verdict = await asyncio.wait_for(probe, READY_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("readiness check %s failed: %s", name, exc)
        return "unavailable"
    return verdict if isinstance(verdict, str) else "ok"


async def _ping_database(app: FastAPI) -> str:
    """SCHEMA_BEHIND when the database's revision is older than the code's, else "ok"."""
    revisions: tuple[str, ...] = app.state.schema_revisions
    async with app.state.db.engine.connect() as conn:
        if not revisions:
            await conn.execute(text("SELECT 1"))
            return "ok"
        try:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            current = set(result.scalars())
        except DBAPIError as exc:
            if sqlstate(exc) == UNDEFINED_TABLE:
                current = set()
            elif sqlstate(exc) == INSUFFICIENT_PRIVILEGE:
                # The service's role cannot tell (a deployment that gave it no SELECT on
                # alembic_version): the database answers, which is all that can be said.
                logger.warning("readiness: cannot read alembic_version; revision not checked")
                return "ok"
            else:
                raise
    if revisions[-1] in current or current - set(revisions):
        return "ok"  # at the head, or at a newer revision this code does not know
    logger.warning(
        "readiness: database at revision %s, this code needs %s: migrations pending",
        ", ".join(sorted(current)) or "none",
        revisions[-1],
    )
    return SCHEMA_BEHIND


async def _dependency_checks(app: FastAPI) -> Checks:
    """Ping the database and Redis and publish the outcome as `dependency_up`."""
    service = app.state.settings.service_name
    checks = {
        "database": await _check("database", _ping_database(app)),
        "redis": await _check("redis", app.state.redis.ping()),
    }
    for name, result in checks.items():
        DEPENDENCY_UP.labels(service, name).set(1 if result == "ok" else 0)
    return checks


def _all_ok(checks: Checks) -> bool:
    return all(result == "ok" for result in checks.values())


class Readiness:
    """The dependency checks of one process, reused for a short while: a success for
    `ok_ttl` seconds, a failure for `failed_ttl`. Callers arriving while a check runs
    await that same check, so at most one is in flight."""

    def __init__(
        self,
        check: Callable[[], Awaitable[Checks]],
        *,
        ok_ttl: float = READY_OK_TTL_SECONDS,
        failed_ttl: float = READY_FAILED_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttls = (ok_ttl, failed_ttl)
        self._clock = clock
        self._result: Checks | None = None
        self._expires = 0.0
        self._running: asyncio.Task[Checks] | None = None

    @classmethod
    def of(cls, app: FastAPI) -> "Readiness":
        """The checks of `app`'s database and Redis."""
        return cls(lambda: _dependency_checks(app))

    async def checks(self) -> Checks:
        if self._result is not None and self._clock() < self._expires:
            return self._result
        if self._running is None:
            self._running = asyncio.create_task(self._refresh())
        # Shielded: a caller that goes away must not cancel the check the others await.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> Checks:
        try:
            result = await self._check()
        finally:
            self._running = None
        ok_ttl, failed_ttl = self._ttls
        self._result = result
        self._expires = self._clock() + (ok_ttl if _all_ok(result) else failed_ttl)
        return result


@ops_router.get("/ready/", summary="Readiness: database (schema revision) and Redis")
async def ready(request: Request) -> JSONResponse:
    checks = await request.app.state.readiness.checks()
    if _all_ok(checks):
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {
            "message": "Service not ready",
            "code": "not_ready",
            "status": "unavailable",
            "checks": checks,
        },
        status_code=503,
    )


@ops_router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Any:
    db = request.app.state.db
    service = request.app.state.settings.service_name
    DB_POOL_IN_USE.labels(service).set(db.checked_out())
    DB_POOL_MAX.labels(service).set(db.pool_max)
    await request.app.state.readiness.checks()  # a scrape alone keeps `dependency_up` current
    return metrics_response(request)
