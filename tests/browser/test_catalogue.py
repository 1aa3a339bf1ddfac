"""Browse: search, price range, in-stock filter, sort, pages, and a product's detail; user
content shown as text."""

import httpx
from playwright.async_api import expect

from .conftest import OpenPage, Shop, Watch, create_product, register, screenshot, unique


async def test_search_filter_sort_paginate_and_detail(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    seller = await register(api, shop, "seller")
    tag = unique("lamp")
    prices = [100 * (i + 1) for i in range(14)]  # $1 .. $14
    products = []
    for i, price in enumerate(prices):
        stock = 0 if i % 4 == 0 else i
        products.append(
            await create_product(
                api,
                shop,
                seller,
                name=f"{tag} {i:02d}",
                price=price,
                stock=stock,
                description=f"A lamp number {i}",
            )
        )
    page = await open_page("#/")
    await page.get_by_role("searchbox", name="Search").fill(tag)
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#result-count")).to_have_text("14 products, page 1 of 2")
    cards = page.locator("li.card")
    await expect(cards).to_have_count(12)
    newest = [p["name"] for p in reversed(products)]  # default sort: newest first
    await expect(cards.locator(".card-title")).to_have_text(newest[:12])
    await screenshot(page, "catalogue")

    await page.get_by_role("link", name="Next page").click()
    await expect(page.locator("#result-count")).to_have_text("14 products, page 2 of 2")
    await expect(cards.locator(".card-title")).to_have_text(newest[12:])

    # price range $3.00-$9.00, in stock only, cheapest first
    await page.get_by_label("Min price ($)").fill("3")
    await page.get_by_label("Max price ($)").fill("9.00")
    await page.get_by_label("In stock only").check()
    await page.get_by_label("Sort by").select_option("price")
    await page.get_by_role("button", name="Apply").click()
    expected = [
        p["name"]
        for p in sorted(products, key=lambda p: p["price"])
        if 300 <= p["price"] <= 900 and p["stock"] > 0
    ]
    await expect(cards.locator(".card-title")).to_have_text(expected)
    assert "min_price=300" in page.url
    assert "max_price=900" in page.url
    # the same filters through the API give the same list
    listing = await api.get(
        f"{shop.url('product')}/api/v1/product/",
        params={"q": tag, "min_price": 300, "max_price": 900, "in_stock": "true", "sort": "price"},
    )
    assert [p["name"] for p in listing.json()["results"]] == expected

    # a reload keeps the filters (they live in the URL)
    await page.reload()
    await page.wait_for_selector("body[data-ready=true]")
    await expect(cards.locator(".card-title")).to_have_text(expected)

    await page.get_by_role("link", name=expected[0]).click()
    detail = page.locator("article.product")
    await expect(detail.get_by_role("heading", level=1)).to_have_text(expected[0])
    chosen = next(p for p in products if p["name"] == expected[0])
    await expect(detail.locator(".price")).to_have_text(f"${chosen['price'] / 100:.2f}")
    await expect(detail.locator(".stock")).to_have_text(f"In stock: {chosen['stock']}")
    await expect(detail.locator(".description")).to_have_text(chosen["description"])
    await screenshot(page, "product-detail")


async def test_bad_price_filter_is_shown_next_to_the_field(open_page: OpenPage) -> None:
    page = await open_page("#/")
    await page.get_by_label("Min price ($)").fill("cheap")
    await page.get_by_role("button", name="Apply").click()
    error = page.locator('[data-field="min_price"] .field-error')
    await expect(error).to_have_text("Enter an amount such as 12.50")
    await expect(page.get_by_label("Min price ($)")).to_have_attribute("aria-invalid", "true")


async def test_api_validation_error_of_a_filter_is_shown_next_to_the_field(
    open_page: OpenPage, watch: Watch
) -> None:
    """A query the API refuses (422 at ["query", "min_price"]) is shown by its field."""
    watch.allow(422)
    page = await open_page("#/?min_price=-5")
    error = page.locator('[data-field="min_price"] .field-error')
    await expect(error).to_be_visible()
    await expect(page.locator("#alert")).to_contain_text("Could not load the products")


async def test_product_name_with_markup_is_text_and_runs_nothing(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    seller = await register(api, shop, "xss")
    name = "<img src=x onerror=alert(1)>"
    product = await create_product(
        api,
        shop,
        seller,
        name=name,
        price=500,
        stock=3,
        description='<script>alert(2)</script><b onmouseover="alert(3)">bold</b>',
    )
    page = await open_page(f"#/product/{product['id']}")
    heading = page.locator("article.product h1")
    await expect(heading).to_have_text(name)
    await expect(page.locator("article.product .description")).to_have_text(product["description"])
    assert await page.locator("main img, main script, main b").count() == 0
    await page.goto(f"{shop.web_url}/#/")
    await page.get_by_role("searchbox", name="Search").fill("onerror")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("li.card .card-title").first).to_have_text(name)
    assert await page.locator("main img").count() == 0
    await page.locator("li.card .card-title a").first.hover()
    assert watch.dialogs == []  # no alert() ran (the fixture fails on any dialog too)
    response = await page.request.get(f"{shop.web_url}/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
