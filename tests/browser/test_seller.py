"""The seller: create a product, edit it with If-Match (a concurrent change is a conflict,
shown, never lost), delete it; only the creator may edit."""

import httpx
from playwright.async_api import expect

from .conftest import (
    OpenPage,
    Shop,
    Watch,
    bearer,
    create_product,
    fresh_access,
    login_in_page,
    register,
    screenshot,
    unique,
)


async def product_of(api: httpx.AsyncClient, shop: Shop, product_id: str) -> httpx.Response:
    return await api.get(f"{shop.url('product')}/api/v1/product/{product_id}/")


async def test_create_edit_with_conflict_and_delete(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(412)
    seller = await register(api, shop, "maker")
    name = unique("Teapot")
    page = await open_page("#/")
    await login_in_page(page, seller["email"])
    await page.get_by_role("link", name="Sell").click()
    await page.get_by_role("link", name="List a new product").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Description").fill("Cast iron.\nHolds a litre.")
    await page.get_by_label("Price ($)").fill("24.90")
    await page.get_by_label("Stock").fill("7")
    await screenshot(page, "seller-new-product")
    await page.get_by_role("button", name="List product").click()
    await expect(page.locator("article.product h1")).to_have_text(name)
    await expect(page.locator("#notice")).to_have_text(f"{name} is listed.")
    product_id = page.url.rsplit("/", 1)[1]
    stored = (await product_of(api, shop, product_id)).json()["data"]
    assert stored["creator_id"] == seller["id"]
    assert (stored["name"], stored["price"], stored["stock"]) == (name, 2490, 7)
    assert stored["description"] == "Cast iron.\nHolds a litre."

    # edit: the form is filled from version 1; someone else saves version 2 meanwhile
    await page.get_by_role("link", name="Edit or delete it").click()
    await expect(page.get_by_label("Stock")).to_have_value("7")
    access = await fresh_access(api, shop, seller["email"])
    other = await api.patch(
        f"{shop.url('product')}/api/v1/product/{product_id}/",
        json={"price": 1990},
        headers=bearer(access),
    )
    assert other.status_code == 200
    await page.get_by_label("Stock").fill("9")
    await page.get_by_role("button", name="Save changes").click()
    conflict = page.locator("#conflict")
    await expect(conflict).to_contain_text("This product changed while you were editing it")
    await expect(conflict).to_contain_text("$19.90")
    await expect(page.get_by_label("Stock")).to_have_value("9")  # my change is kept
    await screenshot(page, "seller-conflict")
    current = (await product_of(api, shop, product_id)).json()["data"]
    assert (current["price"], current["stock"]) == (1990, 7)  # nothing was overwritten
    assert len(watch.requests_to("PATCH", product_id)) == 1
    assert watch.requests_to("PATCH", product_id)[0].headers.get("if-match")

    # keep mine: saved over version 2 with version 2's ETag
    await conflict.get_by_role("button", name="Save my version over theirs").click()
    await expect(page.locator("#notice")).to_have_text(f"{name} is saved.")
    saved = (await product_of(api, shop, product_id)).json()["data"]
    assert (saved["price"], saved["stock"]) == (2490, 9)

    # delete
    await page.get_by_role("link", name="Edit or delete it").click()
    await page.get_by_role("button", name="Delete product").click()
    await page.get_by_role("button", name="Yes, delete it").click()
    await expect(page.locator("#notice")).to_have_text(f"{name} is deleted.")
    assert (await product_of(api, shop, product_id)).status_code == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("My products")


async def test_conflict_take_theirs_loads_their_version(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(412)
    seller = await register(api, shop, "theirs")
    product = await create_product(api, shop, seller, name=unique("Mug"), price=500, stock=2)
    page = await open_page("#/")
    await login_in_page(page, seller["email"])
    await page.goto(f"{shop.web_url}/#/sell/{product['id']}")
    await expect(page.get_by_label("Name")).to_have_value(product["name"])
    access = await fresh_access(api, shop, seller["email"])
    renamed = product["name"] + " XL"
    answer = await api.patch(
        f"{shop.url('product')}/api/v1/product/{product['id']}/",
        json={"name": renamed},
        headers=bearer(access),
    )
    assert answer.status_code == 200
    await page.get_by_label("Price ($)").fill("6.00")
    await page.get_by_role("button", name="Save changes").click()
    await page.get_by_role("button", name="Discard my changes and load theirs").click()
    await expect(page.get_by_label("Name")).to_have_value(renamed)
    await expect(page.get_by_label("Price ($)")).to_have_value("5.00")
    stored = (await product_of(api, shop, product["id"])).json()["data"]
    assert (stored["name"], stored["price"]) == (renamed, 500)


async def test_only_the_seller_sees_the_edit_form(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    seller = await register(api, shop, "owner")
    other = await register(api, shop, "stranger")
    product = await create_product(api, shop, seller, name=unique("Vase"), price=900, stock=1)
    page = await open_page("#/")
    await login_in_page(page, other["email"])
    await page.goto(f"{shop.web_url}/#/product/{product['id']}")
    await expect(page.locator("article.product h1")).to_have_text(product["name"])
    assert await page.get_by_role("link", name="Edit or delete it").count() == 0
    await page.goto(f"{shop.web_url}/#/sell/{product['id']}")
    await expect(page.locator("main")).to_contain_text(
        "Only the seller of this product can edit it."
    )
