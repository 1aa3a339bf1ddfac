"""The one way every service is started, natively and in its container.

    python -m shop_common.serve order_service.main:create_app --host 0.0.0.0 --port 8003 --workers 2

It runs uvicorn with the settings every service shares (an application factory, no access
log: the request log is ours; no proxy headers: the client address rule is ours, in
rate_limit.py). Run scripts and the Dockerfile call this module rather than uvicorn, so that
a change of how a service listens is made here once.

With `INTERNAL_PORT` set it listens on that port too (on `INTERNAL_HOST`, else the same
host), and the app answers internal routes and `/metrics` only there
(`shop_common.listeners`). Both sockets are bound here, once, and every worker serves both;
uvicorn's own supervisor keeps signals and graceful shutdown as with one port.
"""

import argparse
import socket
import sys

import uvicorn
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from shop_common.settings import shared

__all__ = ["Listeners", "main"]


class Listeners(BaseSettings):
    """The optional internal listener, from the same shared variables as
    `ServiceSettings.internal_port` (the app reads it there to split the routes)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    internal_port: int | None = shared("INTERNAL_PORT", None, ge=1, le=65535)
    internal_host: str | None = shared("INTERNAL_HOST", None)


def _arguments(argv: list[str] | None, listeners: Listeners) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shop_common.serve")
    parser.add_argument("app", help="the application factory, module:function")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if listeners.internal_port == args.port:
        parser.error("INTERNAL_PORT must differ from --port")
    return args


WORKER_HEALTHCHECK_TIMEOUT_SECONDS = 10


def _config(args: argparse.Namespace, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        args.app,
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,
        # uvicorn pings each worker in turn and kills one that does not answer in time. A
        # worker just spawned answers only once its interpreter is up, which took over
        # uvicorn's 5 s on a busy 2-core machine: it was killed and restarted in a loop and
        # never served. But the supervisor waits the whole timeout when a worker dies while
        # it is being pinged (the fault suite kills the replacements while they start), and
        # replaces no worker meanwhile: with 30 s, the product service then served nothing
        # for 40 s. 10 s bounds both.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_SECONDS,
    )


def _bind(args: argparse.Namespace, listeners: Listeners) -> list[socket.socket]:
    """The public socket and, with `INTERNAL_PORT`, the internal one: bound here before
    any worker starts (a port in use fails the start at once), then shared by all."""
    sockets = [_config(args, args.host, args.port).bind_socket()]
    if listeners.internal_port is not None:
        host = listeners.internal_host or args.host
        sockets.append(_config(args, host, listeners.internal_port).bind_socket())
    return sockets


def main(argv: list[str] | None = None) -> None:
    listeners = Listeners()
    args = _arguments(argv, listeners)
    config = _config(args, args.host, args.port)
    sockets = _bind(args, listeners)
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
