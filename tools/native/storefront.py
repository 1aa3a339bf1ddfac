"""The storefront's static server in native mode: `web/` over HTTP, from the standard library.

    python -m tools.native.storefront --port 5173 --user URL --product URL --order URL

It serves the files of `web/` (never a listing of a folder, never a file outside it) and
`/config.json`, the three API base URLs the page calls (docs/storefront.md). Every answer
carries the page's security headers: a Content-Security-Policy that allows scripts only from
this origin (no inline script, no eval) and connections only to this origin and those three
URLs, plus nosniff, no referrer and no framing. Compose serves the same files and headers from
nginx (deploy/web/); tests/browser checks both header sets are the same policy.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["content_security_policy", "main", "security_headers"]

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
SERVICES = ("user", "product", "order")


def _origin(url: str) -> str:
    """The origin of an absolute URL (for connect-src); a relative one is this origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "'self'"


def content_security_policy(api_urls: dict[str, str]) -> str:
    # In the order user, product, order, once each (relative URLs are this origin already).
    origins = list(dict.fromkeys(o for o in map(_origin, api_urls.values()) if o != "'self'"))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(["'self'", *origins]),
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(api_urls: dict[str, str]) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(api_urls),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        # The files change with every checkout: always revalidate (Last-Modified answers 304).
        "Cache-Control": "no-cache",
    }


class StorefrontHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler limited to files, plus /config.json and the headers."""

    protocol_version = "HTTP/1.1"
    server_version = "shop-storefront"
    sys_version = ""
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".svg": "image/svg+xml",
        ".json": "application/json",
        ".webmanifest": "application/manifest+json",
    }

    def __init__(self, *args: Any, api_urls: dict[str, str], **kwargs: Any) -> None:
        self.api_urls = api_urls
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        for name, value in security_headers(self.api_urls).items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        if urlsplit(self.path).path == "/config.json":
            body = json.dumps({f"{s}Api": self.api_urls[s] for s in SERVICES}).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def list_directory(self, path: Any) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")
        return None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        sys.stderr.write(f"storefront {self.address_string()} {format % args}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5173)
    parser.add_argument("--root", type=Path, default=WEB_ROOT)
    for service, port in zip(SERVICES, (8001, 8002, 8003), strict=True):
        parser.add_argument(f"--{service}", default=f"http://localhost:{port}")
    args = parser.parse_args(argv)
    mimetypes.add_type("text/javascript", ".js")
    api_urls = {s: str(getattr(args, s)).rstrip("/") for s in SERVICES}
    handler = partial(StorefrontHandler, directory=str(args.root), api_urls=api_urls)
    with ThreadingHTTPServer((args.host, args.port), handler) as server:
        sys.stderr.write(f"storefront: {args.root} on http://{args.host}:{args.port}\n")
        server.serve_forever()


if __name__ == "__main__":
    main()
