// The catalogue: search, price range, in-stock filter, sort and pages. The filters live in the
// URL (#/?q=...&page=2), so a reload or a shared link shows the same page.

import { listProducts } from "../api.js";
import * as cart from "../cart.js";
import { field, formatPrice, h, heading, parseCents, replace } from "../dom.js";
import { clearFieldErrors, notice, showError, showFieldErrors } from "../ui.js";

export const PAGE_SIZE = 12;
const SORTS = [
  ["-created_at", "Newest first"],
  ["created_at", "Oldest first"],
  ["price", "Price: low to high"],
  ["-price", "Price: high to low"],
  ["name", "Name"],
];

function centsText(value) {
  return value === null || value === "" ? "" : (Number(value) / 100).toFixed(2);
}

/** A product card for a list (the catalogue, the seller's page). */
export function productCard(product, actions) {
  return h(
    "li",
    { class: "card", "data-product-id": product.id },
    h("h2", { class: "card-title" }, h("a", { href: `#/product/${product.id}` }, product.name)),
    h("p", { class: "price" }, formatPrice(product.price)),
    h(
      "p",
      { class: product.stock > 0 ? "stock" : "stock out" },
      product.stock > 0 ? `In stock: ${product.stock}` : "Out of stock",
    ),
    actions,
  );
}

export function addToCartButton(product) {
  const button = h(
    "button",
    { type: "button", disabled: product.stock < 1, "aria-label": `Add ${product.name} to the cart` },
    "Add to cart",
  );
  button.addEventListener("click", () => {
    cart.add(product, 1);
    notice(`Added ${product.name} to the cart.`);
  });
  return button;
}

export async function catalogueView({ params, go }) {
  const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
  const state = {
    q: params.get("q") || "",
    min_price: params.get("min_price") || "",
    max_price: params.get("max_price") || "",
    in_stock: params.get("in_stock") === "true",
    sort: params.get("sort") || "-created_at",
  };
  const q = h("input", { name: "q", type: "search", value: state.q, autocomplete: "off" });
  const min = h("input", { name: "min_price", inputmode: "decimal", value: centsText(state.min_price) });
  const max = h("input", { name: "max_price", inputmode: "decimal", value: centsText(state.max_price) });
  const inStock = h("input", { name: "in_stock", type: "checkbox", checked: state.in_stock });
  const sort = h(
    "select",
    { name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === state.sort }, label)),
  );
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Search products" },
    field("Search", q),
    field("Min price ($)", min),
    field("Max price ($)", max),
    h("div", { class: "field check", "data-field": "in_stock" }, h("label", {}, inStock, " In stock only")),
    field("Sort by", sort),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const next = new URLSearchParams();
    if (q.value.trim()) next.set("q", q.value.trim());
    const bad = [];
    for (const [input, name] of [[min, "min_price"], [max, "max_price"]]) {
      const cents = parseCents(input.value);
      if (Number.isNaN(cents)) bad.push({ loc: ["query", name], msg: "Enter an amount such as 12.50" });
      else if (cents !== null) next.set(name, String(cents));
    }
    if (bad.length) {
      showFieldErrors(form, bad);
      return;
    }
    if (inStock.checked) next.set("in_stock", "true");
    if (sort.value !== "-created_at") next.set("sort", sort.value);
    const text = next.toString();
    go(text ? `#/?${text}` : "#/");
  });

  const results = h("div", { class: "results" });
  const node = h("section", {}, heading("Products"), form, results);
  const query = {
    offset: (page - 1) * PAGE_SIZE,
    limit: PAGE_SIZE,
    q: state.q,
    min_price: state.min_price,
    max_price: state.max_price,
    in_stock: state.in_stock ? "true" : "",
    sort: state.sort,
  };
  let listing;
  try {
    listing = await listProducts(query);
  } catch (error) {
    return { node, after: () => showError(error, { form, context: "Could not load the products" }) };
  }
  const { results: products, count } = listing;
  if (!products.length) {
    replace(results, h("p", { class: "empty" }, count ? "No product on this page." : "No product matches."));
  } else {
    replace(
      results,
      h("p", { class: "muted", id: "result-count" }, `${count} product${count === 1 ? "" : "s"}, page ${page} of ${Math.max(1, Math.ceil(count / PAGE_SIZE))}`),
      h("ul", { class: "cards", "aria-labelledby": "result-count" }, products.map((p) => productCard(p, addToCartButton(p)))),
    );
  }
  const link = (target, label, rel) => {
    const next = new URLSearchParams(params);
    next.set("page", String(target));
    return h("a", { href: `#/?${next}`, rel, class: "button" }, label);
  };
  results.append(
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      page > 1 ? link(page - 1, "Previous page", "prev") : null,
      page * PAGE_SIZE < count ? link(page + 1, "Next page", "next") : null,
    ),
  );
  return { node };
}
