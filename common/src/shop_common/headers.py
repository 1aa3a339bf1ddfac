"""Response headers every service sets, in a small pure-ASGI middleware.

`SecurityHeadersMiddleware` adds to every HTTP response (routes, error envelopes, 404s,
429s, CORS preflight refusals, `/docs`, `/metrics`):

- `X-Content-Type-Options: nosniff`;
- `Referrer-Policy: no-referrer` (chosen over strict-origin-when-cross-origin: the API has
  no pages that need a referrer, so none is ever sent);
- `Cache-Control: no-store` on authenticated answers, i.e. to any request that carried an
  `Authorization` header and on every `/internal/` route, errors included; there it
  replaces any Cache-Control a route set. Other answers keep whatever the route set, and
  get none forced.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop_common.security import INTERNAL_PREFIX

__all__ = ["SecurityHeadersMiddleware"]

REFERRER_POLICY = "no-referrer"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = "authorization" in Headers(scope=scope) or scope["path"].startswith(
            INTERNAL_PREFIX
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = REFERRER_POLICY
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
