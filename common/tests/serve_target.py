"""The test app as `python -m shop_common.serve tests.serve_target:create_app` starts it:
a factory without arguments whose settings come from the environment (`COMMON_TEST_*`)."""

from fastapi import FastAPI

from .testapp import CommonTestSettings, build_app

__all__ = ["create_app"]


def create_app() -> FastAPI:
    return build_app(CommonTestSettings())
