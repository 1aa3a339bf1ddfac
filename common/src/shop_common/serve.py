"""The one way every service is started, natively and in its container.

    python -m shop_common.serve order_service.main:create_app --host 0.0.0.0 --port 8003 --workers 2

It runs uvicorn with the settings every service shares (an application factory, no access
log: the request log is ours; no proxy headers: the client address rule is ours, in
rate_limit.py). Run scripts and the Dockerfile call this module rather than uvicorn, so that
a change of how a service listens is made here once.
"""

import argparse

import uvicorn

__all__ = ["main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shop_common.serve")
    parser.add_argument("app", help="the application factory, module:function")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    uvicorn.run(
        args.app,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
