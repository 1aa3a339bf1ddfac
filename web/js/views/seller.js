// The seller's pages: their products, a new product, and edit/delete of their own. The edit
// sends If-Match with the ETag of the version the form was filled from; a 412 means the
// product changed since, and the page shows both versions instead of overwriting or losing
// either (docs/storefront.md).

import { createProduct, deleteProduct, getProduct, listProducts, updateProduct } from "../api.js";
import { field, formatPrice, h, heading, parseCents, replace } from "../dom.js";
import * as session from "../session.js";
import { busy, clearFieldErrors, clearMessages, notice, showError, showFieldErrors } from "../ui.js";
import { productCard } from "./catalogue.js";

export async function sellerListView() {
  const me = session.user();
  const listing = await listProducts({ creator_id: me.id, limit: 100, sort: "name" });
  const node = h(
    "section",
    {},
    heading("My products"),
    h("p", {}, h("a", { class: "button primary", href: "#/sell/new" }, "List a new product")),
    listing.results.length
      ? h(
          "ul",
          { class: "cards" },
          listing.results.map((p) => productCard(p, h("a", { href: `#/sell/${p.id}`, class: "button", "aria-label": `Edit ${p.name}` }, "Edit"))),
        )
      : h("p", { class: "empty" }, "You sell nothing yet."),
    listing.count > listing.results.length ? h("p", { class: "muted" }, `Showing ${listing.results.length} of ${listing.count}.`) : null,
  );
  return { node };
}

function productForm(values) {
  const controls = {
    name: h("input", { name: "name", required: true, maxlength: 100, value: values.name ?? "" }),
    description: h("textarea", { name: "description", rows: 5, maxlength: 5000 }),
    price: h("input", { name: "price", inputmode: "decimal", required: true, value: values.price === undefined ? "" : (values.price / 100).toFixed(2) }),
    stock: h("input", { name: "stock", type: "number", min: 0, step: 1, required: true, value: values.stock ?? 0 }),
  };
  controls.description.value = values.description ?? "";
  return controls;
}

/** The form's values as API fields; a price that is not an amount is a field error. */
function readForm(controls, form) {
  const price = parseCents(controls.price.value);
  const stock = Number(controls.stock.value);
  const bad = [];
  if (price === null || Number.isNaN(price)) bad.push({ loc: ["body", "price"], msg: "Enter a price such as 12.50" });
  if (!Number.isInteger(stock) || controls.stock.value.trim() === "") bad.push({ loc: ["body", "stock"], msg: "Enter a whole number" });
  if (bad.length) {
    clearFieldErrors(form);
    showFieldErrors(form, bad);
    return null;
  }
  return { name: controls.name.value, description: controls.description.value, price, stock };
}

function conflictPanel(theirs, onOverwrite, onTakeTheirs) {
  const overwrite = h("button", { type: "button", class: "danger" }, "Save my version over theirs");
  const take = h("button", { type: "button" }, "Discard my changes and load theirs");
  overwrite.addEventListener("click", onOverwrite);
  take.addEventListener("click", onTakeTheirs);
  return h(
    "div",
    { class: "conflict", role: "alert", id: "conflict" },
    h("h2", {}, "This product changed while you were editing it"),
    h("p", {}, "Someone saved another version since you opened this page (412). Nothing was overwritten; your changes are still in the form. Their version:"),
    h(
      "dl",
      {},
      h("dt", {}, "Name"),
      h("dd", {}, theirs.name),
      h("dt", {}, "Price"),
      h("dd", {}, formatPrice(theirs.price)),
      h("dt", {}, "Stock"),
      h("dd", {}, String(theirs.stock)),
      h("dt", {}, "Description"),
      h("dd", {}, theirs.description || "(none)"),
    ),
    h("div", { class: "row" }, overwrite, take),
  );
}

export async function sellerFormView({ match, go }) {
  const creating = match[1] === "new";
  let product = null;
  let etag = null;
  if (!creating) {
    ({ product, etag } = await getProduct(match[1]));
    if (product.creator_id !== session.user()?.id) {
      const node = h("section", {}, heading("Edit product"), h("p", {}, "Only the seller of this product can edit it."));
      return { node };
    }
  }
  const controls = productForm(product || {});
  const save = h("button", { type: "submit", class: "primary" }, creating ? "List product" : "Save changes");
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field("Name", controls.name),
    field("Description", controls.description),
    field("Price ($)", controls.price),
    field("Stock", controls.stock),
    save,
  );
  const conflictBox = h("div", {});
  const node = h("section", { class: "narrow" }, heading(creating ? "List a new product" : `Edit ${product.name}`), conflictBox, form);

  const changes = (fields) => {
    const changed = {};
    for (const [name, value] of Object.entries(fields)) if (value !== product[name]) changed[name] = value;
    return changed;
  };

  const submit = async () => {
    clearMessages();
    clearFieldErrors(form);
    const fields = readForm(controls, form);
    if (!fields) return;
    try {
      if (creating) {
        const created = await createProduct(fields);
        go(`#/product/${created.id}`, `${created.name} is listed.`);
        return;
      }
      const changed = changes(fields);
      if (!Object.keys(changed).length) {
        notice("Nothing changed.");
        return;
      }
      ({ product, etag } = await updateProduct(product.id, changed, etag));
      conflictBox.replaceChildren();
      go(`#/product/${product.id}`, `${product.name} is saved.`);
    } catch (error) {
      if (error.status === 412) {
        const latest = await getProduct(product.id);
        replace(
          conflictBox,
          conflictPanel(
            latest.product,
            () => {
              // Their version becomes the base: the next save sends its ETag, with my values.
              product = latest.product;
              etag = latest.etag;
              conflictBox.replaceChildren();
              busy(save, submit);
            },
            () => {
              product = latest.product;
              etag = latest.etag;
              controls.name.value = product.name;
              controls.description.value = product.description;
              controls.price.value = (product.price / 100).toFixed(2);
              controls.stock.value = String(product.stock);
              conflictBox.replaceChildren();
              notice("Loaded their version.");
            },
          ),
        );
        conflictBox.querySelector("h2")?.setAttribute("tabindex", "-1");
        conflictBox.querySelector("h2")?.focus();
        return;
      }
      showError(error, { form, context: creating ? "The product was not listed" : "The changes were not saved" });
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, submit);
  });

  if (!creating) {
    const remove = h("button", { type: "button", class: "danger" }, "Delete product");
    const confirm = h("button", { type: "button", class: "danger", hidden: true }, "Yes, delete it");
    remove.addEventListener("click", () => {
      confirm.hidden = false;
      confirm.focus();
    });
    confirm.addEventListener("click", () =>
      busy(confirm, async () => {
        try {
          await deleteProduct(product.id);
          go("#/sell", `${product.name} is deleted.`);
        } catch (error) {
          showError(error, { context: "The product was not deleted" });
        }
      }),
    );
    node.append(h("div", { class: "row danger-zone" }, remove, confirm));
  }
  return { node };
}
