"""CORS from the browser's side: the storefront served from an origin the API does not list
in CORS_ORIGINS gets its calls blocked by the browser, and says so."""

import threading
from collections.abc import Iterator
from functools import partial
from http.server import ThreadingHTTPServer

import pytest
from playwright.async_api import expect

from tests.faults.harness import free_ports
from tools.native.storefront import WEB_ROOT, StorefrontHandler

from .conftest import OpenPage, Shop, Watch


@pytest.fixture
def foreign_storefront(shop: Shop) -> Iterator[str]:
    """The same page and config, served from http://localhost:<another port>."""
    (port,) = free_ports(1)
    urls = {s: shop.url(s).replace("127.0.0.1", "localhost") for s in ("user", "product", "order")}
    handler = partial(StorefrontHandler, directory=str(WEB_ROOT), api_urls=urls)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_page_from_an_unlisted_origin_is_blocked_and_says_so(
    shop: Shop, foreign_storefront: str, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow_failed_requests()
    page = await open_page("#/", base=foreign_storefront)
    alert = page.locator("#alert")
    await expect(alert).to_contain_text("Could not load the products")
    await expect(alert).to_contain_text("does not accept calls from this page's origin")
    await expect(alert).to_contain_text(foreign_storefront)
    await expect(alert).to_contain_text("CORS_ORIGINS")
    # the browser blocked it: a CORS error in the console and a failed request
    assert any("CORS" in e for e in watch.errors), watch.errors
    assert any("/api/v1/product/" in f for f in watch.failed), watch.failed
    # while the same call from the listed origin works
    listed = await open_page("#/")
    await expect(listed.locator("#alert")).to_be_hidden()
    await expect(listed.get_by_role("heading", level=1)).to_have_text("Products")
