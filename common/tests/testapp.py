"""A minimal service built with `shop_common.app.create_service_app`: one table and the
routes the tests drive (errors, bodies, the session dependency, a rate limit, an internal
route), so the shared code is exercised on its own, without any service's domain."""

import logging
from typing import Annotated, Any, Literal

import sqlalchemy.exc
from fastapi import Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict
from sqlalchemy import SmallInteger, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shop_common.app import create_service_app
from shop_common.db import ModelDefaults, SessionDep, after_commit, commit_early, service_metadata
from shop_common.errors import (
    AppError,
    BadRequest,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInternalSecret,
    InvalidToken,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnreadableBody,
    ValidationFailed,
)
from shop_common.logs import current_request_id
from shop_common.rate_limit import rate_limit
from shop_common.routing import ShopRouter
from shop_common.schemas import DataResponse, InputModel
from shop_common.security import InternalSecretDep
from shop_common.settings import ServiceSettings

__all__ = [
    "ERRORS",
    "LEAKED_DETAIL",
    "Base",
    "CommonTestSettings",
    "EchoBody",
    "Item",
    "build_app",
]

logger = logging.getLogger("common_tests.app")
LEAKED_DETAIL = "connection string postgres://admin:hunter2@db"  # must never reach a body
ERRORS: dict[str, type[AppError]] = {
    cls.__name__: cls
    for cls in (
        AppError,
        BadRequest,
        Unauthorized,
        NotAuthenticated,
        InvalidToken,
        Forbidden,
        InvalidInternalSecret,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        ValidationFailed,
        TooManyRequests,
        ServiceUnavailable,
        DatabaseUnavailable,
        UnreadableBody,
    )
}


class CommonTestSettings(ServiceSettings):
    # Like every service: its own prefix and model_config, the shared fields unprefixed.
    model_config = SettingsConfigDict(env_prefix="COMMON_TEST_")

    service_name: str = "common"


class Base(ModelDefaults, DeclarativeBase):
    metadata = service_metadata()


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)
    quantity: Mapped[int] = mapped_column(SmallInteger, default=0)


class EchoBody(InputModel):
    name: str
    quantity: int


class ItemCreate(BaseModel):
    # No bounds on purpose: the database is the one to refuse a value it cannot store.
    name: str
    quantity: int = 0


router = ShopRouter()
internal_router = ShopRouter(prefix="/internal/v1", dependencies=[InternalSecretDep])


@router.get("/errors/{name}/")
async def raise_error(name: str, details: Literal["none", "empty", "one"] = "none") -> None:
    entries = {"none": None, "empty": [], "one": [{"field": "name", "issue": "taken"}]}[details]
    raise ERRORS[name](details=entries)


@router.get("/custom-error/")
async def raise_custom_error() -> None:
    raise Conflict("Email taken", code="email_taken", headers={"X-Hint": "use another"})


@router.get("/crash/")
async def crash() -> None:
    raise RuntimeError(LEAKED_DETAIL)


@router.get("/crash-in-group/")
async def crash_in_group() -> None:
    failure = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionResetError())
    raise ExceptionGroup("task group", [failure])


@router.get("/request-id/")
async def request_id() -> dict[str, str]:
    logger.info("inside the route")
    return {"request_id": current_request_id()}


@router.post("/echo/")
async def echo(body: EchoBody) -> DataResponse[EchoBody]:
    return DataResponse(data=body)


@router.get("/page/")
async def page(limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, int]:
    return {"limit": limit}


@router.post("/raw/")
async def raw(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@router.get("/items/")
async def list_items(session: SessionDep) -> dict[str, list[str]]:
    names = await session.scalars(select(Item.name).order_by(Item.name))
    return {"names": list(names)}


@router.post("/items/", status_code=201)
async def create_item(body: ItemCreate, session: SessionDep) -> dict[str, Any]:
    item = Item(name=body.name, quantity=body.quantity)
    session.add(item)
    await session.flush()
    return {"id": item.id, "name": item.name}


def _count_committed(request: Request, label: str) -> Any:
    """An after-commit callback that records how many items another connection sees."""

    async def callback() -> None:
        async with request.app.state.db.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(Item))
        request.app.state.events.append((label, count))

    return callback


@router.post("/items/after-commit/", status_code=201)
async def create_with_callback(
    body: ItemCreate, session: SessionDep, request: Request, fail: bool = False
) -> dict[str, str]:
    session.add(Item(name=body.name))
    await session.flush()
    after_commit(session, _count_committed(request, body.name))
    if fail:
        raise Conflict("Refused after the write", code="refused")
    return {"name": body.name}


@router.post("/items/commit-early/")
async def commit_then_fail(session: SessionDep, request: Request) -> None:
    session.add(Item(name="kept"))
    after_commit(session, _count_committed(request, "early"))
    await commit_early(session)
    session.add(Item(name="lost"))
    await session.flush()
    after_commit(session, _count_committed(request, "late"))
    raise Conflict("The second step failed", code="second_step_failed")


@router.get("/own-headers/")
async def own_headers() -> Response:
    """An answer with headers of its own that the edge merges with or replaces."""
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "max-age=60", "X-Request-ID": "mine"}
    return Response(b"{}", media_type="application/json", headers=headers)


@router.get("/limited/", dependencies=[Depends(rate_limit("default"))])
async def limited() -> dict[str, bool]:
    return {"ok": True}


@internal_router.post("/ping/")
async def internal_ping() -> dict[str, bool]:
    return {"pong": True}


def build_app(settings: CommonTestSettings) -> FastAPI:
    app = create_service_app(
        settings,
        description="shop_common on its own",
        routers=[router, internal_router],
    )
    app.state.events = []  # what the after-commit callbacks saw, in order
    return app
