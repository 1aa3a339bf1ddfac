"""Liveness, readiness and metrics routes, mounted by the app factory on every service."""

import asyncio
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shop_common.metrics import DB_POOL_IN_USE, DB_POOL_MAX, DEPENDENCY_UP, metrics_response
from shop_common.routing import ShopRouter

__all__ = ["ops_router"]

logger = logging.getLogger(__name__)
READY_TIMEOUT_SECONDS = 2.0
ops_router = ShopRouter(tags=["ops"])


@ops_router.get("/health-check/", summary="Liveness: the process answers")
async def health_check() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("readiness check %s failed: %s", name, exc)
        return "unavailable"
    return "ok"


async def _ping_database(request: Request) -> None:
    async with request.app.state.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _dependency_checks(request: Request) -> dict[str, str]:
    """Ping the database and Redis and publish the outcome as `dependency_up`."""
    service = request.app.state.settings.service_name
    checks = {
        "database": await _check("database", _ping_database(request)),
        "redis": await _check("redis", request.app.state.redis.ping()),
    }
    for name, result in checks.items():
        DEPENDENCY_UP.labels(service, name).set(1 if result == "ok" else 0)
    return checks


@ops_router.get("/ready/", summary="Readiness: database and Redis answer")
async def ready(request: Request) -> JSONResponse:
    checks = await _dependency_checks(request)
    if all(result == "ok" for result in checks.values()):
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
    await _dependency_checks(request)  # so a scrape alone keeps `dependency_up` current
    return metrics_response(request)
