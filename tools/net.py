"""Network probes for the shell scripts, so that they embed no Python of their own.

    python -m tools.net ready URL [--timeout 2]     # print the HTTP status of URL/ready (000: none)
    python -m tools.net port-in-use HOST PORT        # exit 0 when something accepts on HOST:PORT

`ready` always exits 0 and prints a three-digit status, like `curl -w '%{http_code}'`, so a
script can compare it: [[ "$(python -m tools.net ready "$url")" == 200 ]].
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request

__all__ = ["http_status", "port_in_use", "ready_status"]


def ready_status(base_url: str, timeout: float = 2.0) -> str:
    """The status code of GET base_url/ready as three digits, `000` when nothing answered."""
    return http_status(f"{base_url.rstrip('/')}/ready", timeout)


def http_status(url: str, timeout: float = 2.0) -> str:
    """The status code of GET url as three digits, `000` when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return f"{response.status:03d}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code:03d}"
    except (OSError, ValueError):
        return "000"


def port_in_use(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.net", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ready = commands.add_parser("ready", help="print the HTTP status of URL/ready (000: no answer)")
    ready.add_argument("url")
    ready.add_argument("--timeout", type=float, default=2.0)
    in_use = commands.add_parser("port-in-use", help="exit 0 when HOST:PORT accepts connections")
    in_use.add_argument("host")
    in_use.add_argument("port", type=int)
    args = parser.parse_args(argv)
    if args.command == "ready":
        print(ready_status(args.url, args.timeout))
        return 0
    return 0 if port_in_use(args.host, args.port) else 1


if __name__ == "__main__":
    sys.exit(main())
