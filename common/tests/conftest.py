"""Fixtures of the shop_common tests: a database with the test app's one table, settings
and the app itself. The plugin (`shop_common.testing.plugin`) provides `engine`, `db`,
`settings`, `client` and the clean slate after every test."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import ASGIApp

from shop_common.logs import JsonFormatter
from shop_common.testing.fixtures import temporary_database
from shop_common.testing.plugin import ServiceSpec
from shop_common.testing.secrets import strong_secret

from .testapp import Base, CommonTestSettings, build_app

SECRET = strong_secret("common-internal")
ORIGIN = "https://shop.example"


@pytest.fixture(scope="session")
def service_spec() -> ServiceSpec:
    # The test app has no migrations: `database_url` below creates its table from the models.
    return ServiceSpec("common", Base.metadata)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database for this run (no Alembic), with the test app's tables created."""
    async with temporary_database("common") as url:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()
        yield url


@pytest.fixture
def make_settings(base_settings: dict[str, Any]) -> Callable[..., CommonTestSettings]:
    def build(**overrides: Any) -> CommonTestSettings:
        values: dict[str, Any] = {**base_settings, "secret": SECRET, "cors_origins": [ORIGIN]}
        values.update(overrides)
        return CommonTestSettings(**values)

    return build


@pytest.fixture
def app(settings: CommonTestSettings) -> FastAPI:
    return build_app(settings)


class JsonLines(logging.Handler):
    """Every log line as the service writes it (JSON, formatted while the request runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("common"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def matching(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if message in line["message"]]


@pytest.fixture
def log_lines(client: object) -> Iterator[JsonLines]:
    """Attached after the app is built (its `configure_logging` resets the root handlers)."""
    handler = JsonLines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """`app` behind a real uvicorn on a free port (its lifespan included); yields the URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no start event
        if task.done():
            task.result()  # it failed to start: raise why
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
