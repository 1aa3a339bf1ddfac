"""Accessibility (axe-core: no serious or critical violation on any screen), a whole journey
by keyboard alone, and the screens on a 375 px wide phone."""

from importlib import resources
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from .conftest import (
    PASSWORD,
    OpenPage,
    Shop,
    Watch,
    create_product,
    login_in_page,
    orders_of,
    product_stock,
    register,
    screenshot,
    unique,
)

AXE_SOURCE = (resources.files("axe_playwright_python") / "axe.min.js").read_text()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now. axe is loaded
    through the DevTools protocol (page.evaluate), which the page's CSP does not govern; the
    page itself still runs under its CSP."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SOURCE)
    results: dict[str, Any] = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_no_serious_or_critical_axe_violation_on_any_screen(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(412, 422)
    seller = await register(api, shop, "a11y")
    product = await create_product(api, shop, seller, name=unique("Lamp"), price=1999, stock=4)
    page = await open_page("#/")
    screens: dict[str, list[dict[str, Any]]] = {}

    async def check(name: str) -> None:
        await page.wait_for_load_state("networkidle")
        screens[name] = await axe_violations(page)

    await check("catalogue")
    await page.goto(f"{shop.web_url}/#/register")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator(".field-error:visible").first).to_be_visible()
    await check("register with errors")
    await page.goto(f"{shop.web_url}/#/login")
    await check("login")
    await login_in_page(page, seller["email"])
    await page.goto(f"{shop.web_url}/#/product/{product['id']}")
    await expect(page.locator("article.product h1")).to_have_text(product["name"])
    await check("product detail")
    await page.locator("article.product").get_by_role("button", name="Add to cart").click()
    await page.goto(f"{shop.web_url}/#/cart")
    await expect(page.locator(".cart-line")).to_have_count(1)
    await check("cart")
    await page.goto(f"{shop.web_url}/#/orders")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    await check("orders")
    await page.goto(f"{shop.web_url}/#/sell")
    await check("my products")
    await page.goto(f"{shop.web_url}/#/sell/{product['id']}")
    await expect(page.get_by_label("Name")).to_have_value(product["name"])
    await check("edit product")
    found = {name: v for name, v in screens.items() if v}
    assert not found, found


async def press_until_focused(page: Page, selector: str, limit: int = 60, key: str = "Tab") -> None:
    """Press Tab (or `key`) until the element matching `selector` has the focus."""
    target = page.locator(selector).first
    for _ in range(limit):
        if await target.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{selector} never got the focus by Tab")


async def test_a_whole_purchase_by_keyboard_alone(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    """Log in, find a product, add it, place the order and see it: Tab, typing and Enter."""
    seller = await register(api, shop, "keys-seller")
    buyer = await register(api, shop, "keys")
    product = await create_product(api, shop, seller, name=unique("Keyboard"), price=4500, stock=2)
    page = await open_page("#/")
    keys = page.keyboard
    await press_until_focused(page, "a.skip")
    await press_until_focused(page, '#account a[href="#/login"]')
    await keys.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await press_until_focused(page, "#f-email")
    await keys.type(buyer["email"])
    await keys.press("Tab")
    await keys.type(PASSWORD)
    await keys.press("Enter")
    await expect(page.locator("#account .who")).to_be_visible()
    await press_until_focused(page, "#f-q")
    await keys.type(product["name"])
    await keys.press("Enter")
    await expect(page.locator("li.card")).to_have_count(1)
    await press_until_focused(page, "li.card button")
    await keys.press("Enter")
    await expect(page.locator("#nav-cart")).to_have_text("Cart (1)")
    await press_until_focused(page, "#nav-cart", key="Shift+Tab")
    await keys.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cart")
    await press_until_focused(page, "#place-order")
    await keys.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    orders = await orders_of(api, shop, buyer["email"])
    assert len(orders) == 1
    assert orders[0]["items"][0]["product_id"] == product["id"]
    assert await product_stock(api, shop, product["id"]) == 1
    # the focus is visible where it lands (the outline of :focus-visible)
    await press_until_focused(page, "li.order button")
    outline = await page.locator("li.order button").first.evaluate(
        "el => getComputedStyle(el).outlineStyle"
    )
    assert outline != "none"


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide on a 375 px screen"


async def test_every_screen_fits_a_375_px_phone(
    shop: Shop, api: httpx.AsyncClient, browser: Browser, watch: Watch
) -> None:
    seller = await register(api, shop, "phone-seller")
    buyer = await register(api, shop, "phone")
    long_name = unique("An exceptionally long product name that must wrap on a phone screen")
    product = await create_product(api, shop, seller, name=long_name[:100], price=1250, stock=3)
    context = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    context.on("requestfailed", lambda r: watch.failed.append(f"{r.method} {r.url}"))
    context.on("response", watch.on_response)
    try:
        page = await context.new_page()
        page.on("console", watch.on_console)
        await page.goto(f"{shop.web_url}/#/")
        await page.wait_for_selector("body[data-ready=true]")
        await no_sideways_scroll(page)
        await screenshot(page, "phone-catalogue")
        await login_in_page(page, buyer["email"])
        await page.goto(f"{shop.web_url}/#/product/{product['id']}")
        await expect(page.locator("article.product h1")).to_have_text(product["name"])
        await no_sideways_scroll(page)
        await screenshot(page, "phone-product")
        await page.locator("article.product").get_by_role("button", name="Add to cart").click()
        await page.goto(f"{shop.web_url}/#/cart")
        await expect(page.locator(".cart-line")).to_have_count(1)
        await no_sideways_scroll(page)
        await screenshot(page, "phone-cart")
        await page.get_by_role("button", name="Place order").click()
        await expect(page.locator("li.order")).to_have_count(1)
        await no_sideways_scroll(page)
        await screenshot(page, "phone-orders")
        await page.goto(f"{shop.web_url}/#/sell/new")
        await no_sideways_scroll(page)
        await page.wait_for_load_state("networkidle")
    finally:
        await context.close()
    assert not watch.problems(), watch.problems()
