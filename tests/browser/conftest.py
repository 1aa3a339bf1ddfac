"""The storefront in Debian's Chromium, against the whole system started natively.

One private system for the session (tests/faults/harness.py: embedded PostgreSQL and Redis,
`./run_services.sh --native` on free ports) with the storefront served by run_services.sh
itself on a free port, whose origin http://localhost:<port> is the only one in CORS_ORIGINS.
Access tokens live ACCESS_SECONDS, so refresh happens during the journeys. The order service
reaches the product service through a DelayProxy (the 202 test slows it).

Every test gets a fresh browser context (its own localStorage) through `open_page`; its
console and network are watched, and at the end of the test there must be no console error,
no page error and no failed request, favicon included, beyond what the test declared with
`watch.allow(...)`: the browser reports every 4xx/5xx answer as a console error, so a journey
that expects a 409 says so.

Chromium: CHROMIUM_PATH, else /usr/bin/chromium (Debian: apt-get install chromium); without it
the suite fails with that message (never a silent skip). Screenshots go to SCREENSHOT_DIR
(default .run/test-results/screenshots).
"""

import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)

from tests.faults.harness import ROOT, System, free_ports, running_system

ACCESS_SECONDS = 6
LOGIN_ACCOUNT_LIMIT = 3
PASSWORD = "Str0ng!Passw0rd"
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR") or ROOT / ".run" / "test-results" / "screenshots"
)
STATUS_MESSAGE = re.compile(r"the server responded with a status of (\d{3})")


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"Chromium not found at {path}: install Debian's package 'chromium' "
            "(apt-get install chromium) or set CHROMIUM_PATH",
            pytrace=False,
        )
    return path


@dataclass
class Shop:
    """The running system as the tests reach it."""

    system: System
    web_url: str

    def url(self, service: str) -> str:
        return self.system.url(service)


@pytest.fixture(scope="session")
async def shop() -> AsyncIterator[Shop]:
    (web_port,) = free_ports(1)
    web_url = f"http://localhost:{web_port}"
    extra = {
        "NATIVE_WEB": "1",
        "WEB_PORT": str(web_port),
        "CORS_ORIGINS": web_url,
        "USER_SERVICE_ACCESS_TOKEN_SECONDS": str(ACCESS_SECONDS),
        "USER_SERVICE_JWT_LEEWAY_SECONDS": "0",
        "RATE_LIMIT_LOGIN_ACCOUNT": f"{LOGIN_ACCOUNT_LIMIT}/minute",
    }
    async with running_system("browser", proxy_product=True, extra_env=extra) as system:
        yield Shop(system, web_url)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path)
        yield launched
        await launched.close()


@pytest.fixture
async def api(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


@dataclass
class Watch:
    """What the browser reported during one test: console errors, page errors, failures."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_answers: list[tuple[int, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed: set[int] = field(default_factory=set)
    failures_allowed: bool = False

    def allow(self, *statuses: int) -> None:
        """Answers with these statuses are part of the journey (not a failure)."""
        self.allowed.update(statuses)

    def allow_failed_requests(self) -> None:
        self.failures_allowed = True

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.bad_answers.append((response.status, f"{response.request.method} {response.url}"))

    def problems(self) -> list[str]:
        # net::ERR_ABORTED is the browser cancelling a request itself (a navigation or a
        # reload while the favicon loads), not an answer that failed.
        found = [
            f"failed request: {r}"
            for r in self.failed
            if not self.failures_allowed and not r.endswith("net::ERR_ABORTED")
        ]
        found += [
            f"answer {status}: {what}"
            for status, what in self.bad_answers
            if status not in self.allowed
        ]
        for text in self.errors:
            status = STATUS_MESSAGE.search(text)
            if status and int(status.group(1)) in self.allowed:
                continue
            if self.failures_allowed and ("CORS" in text or "ERR_FAILED" in text):
                continue
            found.append(f"console error: {text}")
        found += [f"dialog opened: {d}" for d in self.dialogs]
        return found

    def requests_to(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and path in r.url]


@pytest.fixture
def watch() -> Watch:
    return Watch()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def context(browser: Browser, watch: Watch) -> AsyncIterator[BrowserContext]:
    created = await browser.new_context(viewport={"width": 1280, "height": 900})
    created.set_default_timeout(15000)
    created.on("request", lambda r: watch.requests.append(r))
    created.on("requestfailed", lambda r: watch.failed.append(f"{r.method} {r.url} {r.failure}"))
    created.on("response", watch.on_response)
    yield created
    await created.close()


@pytest.fixture
async def open_page(shop: Shop, context: BrowserContext, watch: Watch) -> AsyncIterator[OpenPage]:
    """open_page(hash="#/") -> a new tab of the test's context at the storefront, ready."""
    pages: list[Page] = []

    async def opener(route: str = "#/", *, base: str | None = None) -> Page:
        page = await context.new_page()
        page.on("console", watch.on_console)
        page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))

        async def dismiss(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        await page.goto(f"{base or shop.web_url}/{route}")
        await page.wait_for_selector("body[data-ready=true]")
        pages.append(page)
        return page

    yield opener
    for page in pages:  # let late answers and console messages arrive before judging
        if not page.is_closed():
            await page.wait_for_load_state("networkidle")
    problems = watch.problems()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, and tiny
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def register(api: httpx.AsyncClient, shop: Shop, who: str) -> dict[str, Any]:
    """A new account through the API: {email, access, refresh, id}."""
    email = f"{unique(who)}@example.com"
    answer = await api.post(
        f"{shop.url('user')}/api/v1/register/", json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text
    tokens = answer.json()["data"]
    profile = await api.get(f"{shop.url('user')}/api/v1/profile/", headers=bearer(tokens["access"]))
    return {"email": email, **tokens, "id": profile.json()["data"]["id"]}


async def fresh_access(api: httpx.AsyncClient, shop: Shop, email: str) -> str:
    """A new access token for `email` (the ones from register expire in ACCESS_SECONDS)."""
    answer = await api.post(
        f"{shop.url('user')}/api/v1/login/", json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["access"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_product(
    api: httpx.AsyncClient, shop: Shop, seller: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    access = await fresh_access(api, shop, seller["email"])
    answer = await api.post(
        f"{shop.url('product')}/api/v1/product/", json=fields, headers=bearer(access)
    )
    assert answer.status_code == 201, answer.text
    product: dict[str, Any] = answer.json()["data"]
    return product


async def product_stock(api: httpx.AsyncClient, shop: Shop, product_id: str) -> int | None:
    """The product's stock through the API; None once it is deleted."""
    answer = await api.get(f"{shop.url('product')}/api/v1/product/{product_id}/")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return int(answer.json()["data"]["stock"])


async def orders_of(api: httpx.AsyncClient, shop: Shop, email: str) -> list[dict[str, Any]]:
    access = await fresh_access(api, shop, email)
    answer = await api.get(
        f"{shop.url('order')}/api/v1/order/", params={"limit": 100}, headers=bearer(access)
    )
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


async def login_in_page(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto(page.url.split("#")[0] + "#/login")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.locator("#account .who").wait_for()


@pytest.fixture(autouse=True)
def _clean_slate() -> None:
    """The shared plugin's per-test database wipe does not apply: this suite's system has its
    own databases, and every test makes its own accounts and products."""
