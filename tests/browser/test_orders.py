"""Cart and checkout (one multi-item order, Idempotency-Key, double click), insufficient
stock per line, the orders list, and cancel: 200 (stock back) and 202 (pending)."""

import asyncio

import httpx
from playwright.async_api import Page, expect

from .conftest import (
    OpenPage,
    Shop,
    Watch,
    bearer,
    create_product,
    fresh_access,
    login_in_page,
    orders_of,
    product_stock,
    register,
    screenshot,
    unique,
)


async def add_from_detail(page: Page, shop: Shop, product_id: str, quantity: int) -> None:
    # Going from one product's hash to another's does not reload the page: until the new view
    # renders, the previous product's form (and its "Added ..." notice) is still there.
    await page.goto(f"{shop.web_url}/#/product/{product_id}")
    article = page.locator(f'article.product[data-product-id="{product_id}"]')
    await expect(article).to_be_visible()
    await article.get_by_label("Quantity").fill(str(quantity))
    await article.get_by_role("button", name="Add to cart").click()
    name = await article.get_by_role("heading", level=1).inner_text()
    await expect(page.locator("#notice")).to_have_text(f"Added {quantity} × {name} to the cart.")


async def test_multi_item_order_double_click_places_one_order(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    seller = await register(api, shop, "grocer")
    buyer = await register(api, shop, "buyer")
    tea = await create_product(api, shop, seller, name=unique("Tea"), price=350, stock=5)
    jam = await create_product(api, shop, seller, name=unique("Jam"), price=420, stock=3)
    page = await open_page("#/")
    await login_in_page(page, buyer["email"])
    await add_from_detail(page, shop, tea["id"], 2)
    await page.goto(f"{shop.web_url}/#/?q={jam['name']}")
    await page.get_by_role("button", name=f"Add {jam['name']} to the cart").click()
    await expect(page.locator("#nav-cart")).to_have_text("Cart (3)")
    await page.get_by_role("link", name="Cart (3)").click()
    await expect(page.locator(".cart-line")).to_have_count(2)
    await expect(page.locator(".total")).to_contain_text("$11.20")
    await screenshot(page, "cart")
    await page.get_by_role("button", name="Place order").dblclick()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    await expect(page.locator("#notice")).to_contain_text("is placed: $11.20")
    await expect(page.locator("li.order")).to_have_count(1)
    await screenshot(page, "orders")

    posts = watch.requests_to("POST", "/api/v1/order/")
    assert posts
    assert len({p.headers.get("idempotency-key") for p in posts}) == 1
    assert posts[0].headers.get("idempotency-key")
    orders = await orders_of(api, shop, buyer["email"])
    assert len(orders) == 1
    order = orders[0]
    assert order["status"] == "confirmed"
    assert sorted((i["product_id"], i["quantity"]) for i in order["items"]) == sorted(
        [(tea["id"], 2), (jam["id"], 1)]
    )
    assert order["total"] == 2 * 350 + 420
    assert await product_stock(api, shop, tea["id"]) == 3
    assert await product_stock(api, shop, jam["id"]) == 2
    assert await page.evaluate("localStorage.getItem('shop.cart')") == "[]"


async def test_insufficient_stock_is_shown_per_line_and_nothing_is_taken(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage, watch: Watch
) -> None:
    watch.allow(409)
    seller = await register(api, shop, "scarce")
    buyer = await register(api, shop, "eager")
    rare = await create_product(api, shop, seller, name=unique("Rare"), price=1000, stock=1)
    common = await create_product(api, shop, seller, name=unique("Common"), price=100, stock=10)
    page = await open_page("#/")
    await login_in_page(page, buyer["email"])
    await add_from_detail(page, shop, rare["id"], 1)
    await add_from_detail(page, shop, common["id"], 2)
    await page.goto(f"{shop.web_url}/#/cart")
    await page.get_by_label(f"Quantity of {rare['name']}").fill("3")
    await page.get_by_label(f"Quantity of {rare['name']}").press("Tab")
    await page.get_by_role("button", name="Place order").click()
    rare_line = page.locator(f'.cart-line[data-product-id="{rare["id"]}"]')
    common_line = page.locator(f'.cart-line[data-product-id="{common["id"]}"]')
    await expect(rare_line.locator(".line-error")).to_have_text(
        "Only 1 in stock: lower the quantity."
    )
    assert await common_line.locator(".line-error").count() == 0
    await expect(page.locator("#alert")).to_contain_text("Not enough stock")
    await screenshot(page, "cart-insufficient-stock")
    # the refused order is kept as failed (the API lists it so), and took nothing
    assert [o["status"] for o in await orders_of(api, shop, buyer["email"])] == ["failed"]
    assert await product_stock(api, shop, rare["id"]) == 1
    assert await product_stock(api, shop, common["id"]) == 10

    # lowering the quantity is another order (a new key) and goes through
    await page.get_by_label(f"Quantity of {rare['name']}").fill("1")
    await page.get_by_label(f"Quantity of {rare['name']}").press("Tab")
    await page.get_by_role("button", name="Place order").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    assert await product_stock(api, shop, rare["id"]) == 0
    assert await product_stock(api, shop, common["id"]) == 8
    keys = {r.headers.get("idempotency-key") for r in watch.requests_to("POST", "/api/v1/order/")}
    assert len(keys) == 2


async def place_order(
    api: httpx.AsyncClient, shop: Shop, email: str, items: list[dict[str, object]]
) -> dict[str, object]:
    access = await fresh_access(api, shop, email)
    answer = await api.post(
        f"{shop.url('order')}/api/v1/order/", json={"items": items}, headers=bearer(access)
    )
    assert answer.status_code == 201, answer.text
    order: dict[str, object] = answer.json()["data"]
    return order


async def test_cancel_an_order_gives_the_stock_back(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    seller = await register(api, shop, "baker")
    buyer = await register(api, shop, "diner")
    bread = await create_product(api, shop, seller, name=unique("Bread"), price=300, stock=6)
    order = await place_order(
        api, shop, buyer["email"], [{"product_id": bread["id"], "quantity": 4}]
    )
    assert await product_stock(api, shop, bread["id"]) == 2
    page = await open_page("#/")
    await login_in_page(page, buyer["email"])
    await page.get_by_role("link", name="My orders").click()
    row = page.locator(f'li.order[data-order-id="{order["id"]}"]')
    await expect(row).to_contain_text(f"4 × {bread['name']} at $3.00")
    await expect(row.locator(".badge")).to_have_text("confirmed")
    await row.get_by_role("button", name="Cancel order").click()
    await row.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.locator("#notice")).to_contain_text("is cancelled and its stock is back")
    await expect(row).to_have_count(0)
    assert await product_stock(api, shop, bread["id"]) == 6
    access = await fresh_access(api, shop, buyer["email"])
    gone = await api.get(f"{shop.url('order')}/api/v1/order/{order['id']}/", headers=bearer(access))
    assert gone.status_code == 404
    assert await orders_of(api, shop, buyer["email"]) == []


async def test_cancel_while_the_product_service_is_slow_shows_pending_until_stock_is_back(
    shop: Shop, api: httpx.AsyncClient, open_page: OpenPage
) -> None:
    """The order service's release call times out (its answers from the product service are
    held back 3 s, past its 1 s timeout): DELETE answers 202, the page says "cancellation
    pending", and clears it once the stock has come back."""
    proxy = shop.system.proxy
    assert proxy is not None
    seller = await register(api, shop, "slow")
    buyer = await register(api, shop, "patient")
    soap = await create_product(api, shop, seller, name=unique("Soap"), price=250, stock=5)
    order = await place_order(
        api, shop, buyer["email"], [{"product_id": soap["id"], "quantity": 3}]
    )
    page = await open_page("#/")
    await login_in_page(page, buyer["email"])
    await page.get_by_role("link", name="My orders").click()
    row = page.locator(f'li.order[data-order-id="{order["id"]}"]')
    await row.get_by_role("button", name="Cancel order").click()
    proxy.delay = 3.0
    try:
        async with page.expect_response(
            lambda r: r.request.method == "DELETE" and str(order["id"]) in r.url, timeout=20000
        ) as deleted:
            await row.get_by_role("button", name="Yes, cancel it").click()
        assert (await deleted.value).status == 202
        pending = page.locator(f'.pending-cancel[data-order-id="{order["id"]}"]')
        await expect(pending).to_contain_text("cancellation pending")
        await screenshot(page, "orders-cancellation-pending")
    finally:
        proxy.delay = 0.0
    await expect(pending).to_have_count(0, timeout=30000)
    await expect(page.locator("#notice")).to_contain_text("is cancelled and its stock is back")
    assert await product_stock(api, shop, soap["id"]) == 5
    access = await fresh_access(api, shop, buyer["email"])
    gone = await api.get(f"{shop.url('order')}/api/v1/order/{order['id']}/", headers=bearer(access))
    assert gone.status_code == 404
    await asyncio.sleep(0)
