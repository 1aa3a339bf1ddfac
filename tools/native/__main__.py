"""python -m tools.native start | stop | status | logs [service] [-f] | check-redis-acl"""

from __future__ import annotations

import argparse
import sys

from dotenv import dotenv_values

from tools.native import commands, datastores, redis_acl
from tools.native.layout import Failure, Layout, error
from tools.native.secret_file import redis_password_name

__all__ = ["main"]


def _check_redis_acl(layout: Layout) -> None:
    """Re-run the ACL check of `start` against the running embedded Redis, and fail when
    Redis refused a service anything since then (the end-to-end run calls this)."""
    secrets = {k: v for k, v in dotenv_values(layout.secrets_file).items() if v}
    base = datastores.embedded_redis_url(layout)
    try:
        admin = secrets[redis_password_name("admin")]
        urls = datastores.acl_urls(layout, base, secrets)
    except KeyError:
        raise Failure(f"no Redis passwords in {layout.secrets_file}") from None
    refused = redis_acl.denials(base, admin)
    redis_acl.check(base, urls)
    redis_acl.reset_log(base, admin)
    if refused:
        raise Failure("Redis refused the services since the start: " + "; ".join(refused))
    print("redis ACL: each service reaches only its own keys, and nothing it sent was refused")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.native", description=__doc__)
    commands_ = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop", "status", "check-redis-acl"):
        commands_.add_parser(name)
    logs = commands_.add_parser("logs", help="the last LINES_SHOWN lines of a log")
    logs.add_argument("service", nargs="?", default="user")
    logs.add_argument("-f", "--follow", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        layout = Layout.from_env()
        if args.command == "logs":
            commands.logs(layout, args.service, args.follow)
        elif args.command == "check-redis-acl":
            _check_redis_acl(layout)
        else:
            getattr(commands, args.command)(layout)
    except Failure as failure:
        error(str(failure))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
