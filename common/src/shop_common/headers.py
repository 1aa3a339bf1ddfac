"""Response headers every service sets.

Every HTTP response gets them (routes, error envelopes, 404s, 429s, CORS preflight refusals,
`/docs`, `/metrics`):

- `X-Content-Type-Options: nosniff`;
- `Referrer-Policy: no-referrer` (chosen over strict-origin-when-cross-origin: the API has
  no pages that need a referrer, so none is ever sent);
- `Cache-Control: no-store` on every answer that carries a token or changes state, and on
  every authenticated one: the answer to any request that carried an `Authorization`
  header, to any request whose method is not GET, HEAD or OPTIONS (register, login and
  refresh included), and on every `/internal/` route, errors included; there it replaces
  any Cache-Control a route set. Other answers keep whatever the route set, and get none
  forced.

The edge (`shop_common.edge`) adds them, replacing any the route set.
"""

__all__ = ["NO_STORE", "REFERRER_POLICY", "SECURITY_HEADERS"]

REFERRER_POLICY = "no-referrer"
# On every answer, encoded once.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", REFERRER_POLICY.encode()),
]
# On authenticated, state-changing and internal answers.
NO_STORE = (b"cache-control", b"no-store")
