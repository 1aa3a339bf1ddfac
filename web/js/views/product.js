// One product: its details, add to the cart, and the seller's edit/delete links.

import { getProduct } from "../api.js";
import * as cart from "../cart.js";
import { field, formatDate, formatPrice, h, heading } from "../dom.js";
import * as session from "../session.js";
import { notice, showError } from "../ui.js";

export async function productView({ match }) {
  const { product } = await getProduct(match[1]);
  const mine = session.user()?.id === product.creator_id;
  const quantity = h("input", {
    name: "quantity",
    type: "number",
    min: 1,
    max: Math.max(1, Math.min(product.stock, cart.MAX_QUANTITY)),
    value: 1,
    required: true,
  });
  const form = h(
    "form",
    { class: "inline-form" },
    field("Quantity", quantity),
    h("button", { type: "submit", disabled: product.stock < 1 }, "Add to cart"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = Number.parseInt(quantity.value, 10);
    if (!Number.isInteger(wanted) || wanted < 1) {
      showError(new Error("Enter a quantity of at least 1."));
      return;
    }
    cart.add(product, wanted);
    notice(`Added ${wanted} × ${product.name} to the cart.`);
  });
  const node = h(
    "article",
    { class: "product", "data-product-id": product.id },
    heading(product.name),
    h("p", { class: "price big" }, formatPrice(product.price)),
    h(
      "p",
      { class: product.stock > 0 ? "stock" : "stock out" },
      product.stock > 0 ? `In stock: ${product.stock}` : "Out of stock",
    ),
    h("p", { class: "description" }, product.description || "No description."),
    h("p", { class: "muted small" }, `Listed ${formatDate(product.created_at)}`),
    form,
    mine
      ? h("p", { class: "owner" }, "You sell this product. ", h("a", { href: `#/sell/${product.id}` }, "Edit or delete it"))
      : null,
    h("p", {}, h("a", { href: "#/" }, "Back to the products")),
  );
  return { node };
}

