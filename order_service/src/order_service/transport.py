"""The transport under the service clients: httpx's own, or aiohttp's behind the httpx API.

`ORDER_SERVICE_HTTP_TRANSPORT=aiohttp` keeps every client's httpx API and puts
`httpx-aiohttp` under it. A microbenchmark in encode/httpx#3215 found aiohttp's transport
several times faster than httpx's (here: 1.0 against 3.5 ms of client CPU per call at 16
concurrent); on the real order path it was no faster (docs/decisions.md, "Where the time
goes"), so httpx's own stays the default and this one stays an option to re-measure.
"""

import aiohttp
import httpx
import httpx_aiohttp

from order_service.config import HttpTransportName
from shop_common.clients import CLIENT_LIMITS

__all__ = ["AiohttpTransport", "build_transport"]


class AiohttpTransport(httpx_aiohttp.AiohttpTransport):
    """`httpx_aiohttp.AiohttpTransport` whose failures are always httpx errors.

    The library reports a refused connection as a connect *timeout* and lets a few aiohttp
    errors through unmapped; the service clients count outcomes by httpx exception type.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TimeoutException as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
                cause, TimeoutError
            ):
                raise httpx.ConnectError(str(cause), request=request) from cause
            raise
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc), request=request) from exc
        except TimeoutError as exc:
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc


def build_transport(name: HttpTransportName) -> httpx.AsyncBaseTransport | None:
    """A new transport for one client (each client closes its own); None means httpx's."""
    if name == "aiohttp":
        return AiohttpTransport(limits=CLIENT_LIMITS)
    return None
