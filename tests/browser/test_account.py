"""Register, log in, log out; refresh with rotation, single-flight across tabs; a reused
refresh token ends the session; 401 leads to the login page; 429 shows its Retry-After."""

import asyncio
import json
from typing import Any

import httpx
from playwright.async_api import Page, expect

from .conftest import (
    ACCESS_SECONDS,
    LOGIN_ACCOUNT_LIMIT,
    PASSWORD,
    OpenPage,
    Shop,
    Watch,
    bearer,
    login_in_page,
    register,
    screenshot,
    unique,
)


async def stored_session(page: Page) -> dict[str, Any] | None:
    raw = await page.evaluate("localStorage.getItem('shop.session')")
    return json.loads(raw) if raw else None


async def test_register_with_field_errors_then_logout_and_login(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(422)
    email = f"{unique('ada')}@example.com"
    page = await open_page("#/register")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Name (optional)").fill("Ada")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_role("button", name="Create account").click()
    errors = page.locator('[data-field="password"] .field-error span')
    await expect(errors.first).to_be_visible()
    texts = await errors.all_inner_texts()
    assert len(texts) >= 3, texts
    assert any("digit" in t for t in texts), texts
    await expect(page.get_by_label("Password", exact=True)).to_be_focused()
    await screenshot(page, "register-validation")

    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#account .who")).to_have_text("Ada")
    session = await stored_session(page)
    assert session is not None
    assert session["user"]["email"] == email
    # the account exists behind the page
    login = await api.post(
        f"{shop.url('user')}/api/v1/login/", json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 200

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#account")).to_contain_text("Log in")
    assert await stored_session(page) is None
    # both tokens stopped working at the API
    refused = await api.post(
        f"{shop.url('user')}/api/v1/refresh-token/",
        json={"refresh_token": session["refresh"]},
    )
    assert refused.status_code == 401
    profile = await api.get(
        f"{shop.url('user')}/api/v1/profile/", headers=bearer(session["access"])
    )
    assert profile.status_code == 401

    await login_in_page(page, email)
    await expect(page.locator("#account .who")).to_have_text("Ada")


async def test_wrong_password_message_then_429_with_retry_after(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(401, 429)
    account = await register(api, shop, "locked")
    page = await open_page("#/login")
    await page.get_by_label("Email", exact=True).fill(account["email"])
    await page.get_by_label("Password", exact=True).fill("Wr0ng!Password")
    button = page.get_by_role("button", name="Log in")
    alert = page.locator("#alert")
    for _ in range(LOGIN_ACCOUNT_LIMIT):
        await button.click()
        await expect(alert).to_contain_text("Invalid email or password")
        await expect(button).to_be_enabled()
    await button.click()
    await expect(alert).to_contain_text("Too many requests: try again in")
    text = await alert.inner_text()
    seconds = int(text.split("try again in ")[1].split(" s")[0])
    assert 0 < seconds <= 60
    await expect(page.locator("form button[type=submit]")).to_be_disabled()
    await expect(page.locator("form button[type=submit]")).to_contain_text("wait")
    await screenshot(page, "login-429")


async def test_page_needing_login_sends_to_login_and_back(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    account = await register(api, shop, "back")
    page = await open_page("#/orders")
    await expect(page).to_have_url(f"{shop.web_url}/#/login?next=%23%2Forders")
    await expect(page.locator("#notice")).to_have_text("Please log in to see this page.")
    await page.get_by_label("Email", exact=True).fill(account["email"])
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")


async def test_revoked_session_401_leads_to_login(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    """Logged out elsewhere (both tokens revoked at the API): the next call is refused, the
    refresh too, and the page sends the user to log in with a reason."""
    watch.allow(401)
    account = await register(api, shop, "revoked")
    page = await open_page("#/")
    await login_in_page(page, account["email"])
    session = await stored_session(page)
    assert session is not None
    answer = await api.post(
        f"{shop.url('user')}/api/v1/logout/",
        json={"refresh_token": session["refresh"]},
        headers=bearer(session["access"]),
    )
    assert answer.status_code == 200
    await page.get_by_role("link", name="My orders").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await expect(page.locator("#notice")).to_contain_text("Please log in")
    assert await stored_session(page) is None


async def wait_for_expiry(page: Page) -> None:
    """Until the stored access token has expired (plus a margin)."""
    session = await stored_session(page)
    assert session is not None
    await asyncio.sleep(ACCESS_SECONDS + 1)


async def test_refresh_is_single_flight_across_tabs_and_rotates(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    account = await register(api, shop, "tabs")
    first = await open_page("#/")
    await login_in_page(first, account["email"])
    second = await open_page("#/")
    await expect(second.locator("#account .who")).to_be_visible()  # the session is shared
    before = await stored_session(first)
    assert before is not None
    await wait_for_expiry(first)
    refreshes_before = len(watch.requests_to("POST", "/api/v1/refresh-token/"))
    # both tabs need a fresh token at the same moment
    await asyncio.gather(
        first.evaluate("location.hash = '#/orders'"),
        second.evaluate("location.hash = '#/orders'"),
    )
    for page in (first, second):
        await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    refreshes = watch.requests_to("POST", "/api/v1/refresh-token/")[refreshes_before:]
    assert len(refreshes) == 1, [r.url for r in refreshes]
    after = await stored_session(second)
    assert after is not None
    assert after["refresh"] != before["refresh"]
    assert after["access"] != before["access"]
    # the new pair works at the API; the old access token has expired
    profile = await api.get(f"{shop.url('user')}/api/v1/profile/", headers=bearer(after["access"]))
    assert profile.status_code == 200
    assert profile.json()["data"]["email"] == account["email"]
    # and the user stayed logged in in both tabs
    for page in (first, second):
        await expect(page.locator("#account .who")).to_be_visible()


async def test_reused_refresh_token_logs_the_user_out(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    """Someone replays a refresh token the page has already rotated: the API revokes the
    whole family, and the page's next refresh is refused, so it logs the user out."""
    watch.allow(401)
    account = await register(api, shop, "reuse")
    page = await open_page("#/")
    await login_in_page(page, account["email"])
    original = await stored_session(page)
    assert original is not None
    await wait_for_expiry(page)
    await page.get_by_role("link", name="My orders").click()  # the page rotates the pair
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    rotated = await stored_session(page)
    assert rotated is not None
    assert rotated["refresh"] != original["refresh"]
    replay = await api.post(
        f"{shop.url('user')}/api/v1/refresh-token/",
        json={"refresh_token": original["refresh"]},
    )
    assert replay.status_code == 401  # reuse detected: the family is revoked
    await wait_for_expiry(page)
    await page.get_by_role("link", name="Products", exact=True).click()
    await page.get_by_role("link", name="My orders").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await expect(page.locator("#notice")).to_contain_text("Your session has ended")
    assert await stored_session(page) is None
    still = await api.post(
        f"{shop.url('user')}/api/v1/refresh-token/",
        json={"refresh_token": rotated["refresh"]},
    )
    assert still.status_code == 401
