// The cart and the checkout: one multi-item order, placed with an Idempotency-Key.

import { placeOrder } from "../api.js";
import * as cart from "../cart.js";
import { formatPrice, h, heading, replace } from "../dom.js";
import { randomUuid } from "../http.js";
import * as session from "../session.js";
import { busy, clearMessages, notice, showError } from "../ui.js";

export async function cartView({ go }) {
  const body = h("div", {});
  const node = h("section", {}, heading("Cart"), body);
  const shortages = new Map(); // product_id -> available, from the last 409

  const draw = () => {
    const lines = cart.lines();
    if (!lines.length) {
      replace(body, h("p", { class: "empty" }, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the products")));
      return;
    }
    const rows = lines.map((line) => {
      const quantity = h("input", {
        type: "number",
        min: 1,
        max: cart.MAX_QUANTITY,
        value: line.quantity,
        name: `quantity-${line.product_id}`,
        id: `quantity-${line.product_id}`,
        "aria-label": `Quantity of ${line.name}`,
      });
      quantity.addEventListener("change", () => {
        const value = Number.parseInt(quantity.value, 10);
        if (Number.isInteger(value) && value >= 1 && value <= cart.MAX_QUANTITY) {
          cart.setQuantity(line.product_id, value);
          shortages.delete(line.product_id);
          draw();
        } else {
          quantity.value = String(line.quantity);
        }
      });
      const removeButton = h("button", { type: "button", class: "link", "aria-label": `Remove ${line.name} from the cart` }, "Remove");
      removeButton.addEventListener("click", () => {
        cart.remove(line.product_id);
        shortages.delete(line.product_id);
        draw();
      });
      const available = shortages.get(line.product_id);
      return h(
        "li",
        { class: "cart-line", "data-product-id": line.product_id },
        h("a", { href: `#/product/${line.product_id}`, class: "name" }, line.name),
        h("span", { class: "unit" }, formatPrice(line.unit_price)),
        quantity,
        removeButton,
        available !== undefined
          ? h("p", { class: "line-error", role: "note" }, available > 0 ? `Only ${available} in stock: lower the quantity.` : "Out of stock: remove this line.")
          : null,
      );
    });
    const total = lines.reduce((sum, l) => sum + l.unit_price * l.quantity, 0);
    const place = h("button", { type: "button", class: "primary", id: "place-order" }, "Place order");
    place.addEventListener("click", () => busy(place, () => checkout(lines)));
    replace(
      body,
      h("ul", { class: "cart-lines" }, rows),
      h("p", { class: "total" }, `Total: ${formatPrice(total)} `, h("span", { class: "muted small" }, "(prices are confirmed when the order is placed)")),
      session.current() ? place : h("p", {}, h("a", { href: "#/login?next=%23%2Fcart" }, "Log in to place the order")),
    );
  };

  async function checkout(lines) {
    clearMessages();
    const items = lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity }));
    const key = cart.checkoutKey(items, randomUuid);
    try {
      const order = await placeOrder(items, key);
      cart.clear();
      go("#/orders", `Order ${order.id.split("-")[0]} is placed: ${formatPrice(order.total)}.`);
    } catch (error) {
      if (error.code === "insufficient_stock") {
        shortages.clear();
        for (const d of error.details) shortages.set(d.product_id, d.available);
        cart.forgetCheckoutKey();
        draw();
        showError(error, { context: "Not enough stock for every line" });
      } else if (error.status === 404) {
        cart.forgetCheckoutKey();
        showError(error, { context: "A product in the cart no longer exists; remove it" });
      } else if (error.ambiguous) {
        showError(error, {
          context: "We could not tell whether the order was placed. Press Place order again: the same order is never placed twice",
        });
      } else if (error.code === "idempotency_in_progress") {
        notice("This order is still being placed; check My orders in a moment.");
      } else {
        showError(error, { context: "The order was not placed" });
      }
    }
  }

  draw();
  return { node, cleanup: cart.onChange(draw) };
}
