// DOM helpers. Everything the page shows is built with createElement and text nodes: user
// content (product names, descriptions, API messages) is never parsed as HTML. No module of
// the storefront uses innerHTML, outerHTML, insertAdjacentHTML or document.write
// (tests/browser/test_static.py checks it).

/**
 * h("a", {href: "#/", class: "x", on: {click: fn}}, "text", child, [more children])
 * Attributes are set with setAttribute (booleans: true sets, false/null/undefined skips).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el` by `children` (text or nodes). */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** Integer cents as money text ("$12.34"). */
export function formatPrice(cents) {
  // From the integer cents as an exact decimal string: cents / 100 is a float, which can
  // round the last cent of a large total.
  const units = (cents - (cents % 100)) / 100;
  return money.format(`${units}.${String(Math.abs(cents % 100)).padStart(2, "0")}`);
}

/** A money input's text ("12.34") as integer cents, or null when it is not a number. */
export function parseCents(text) {
  const trimmed = String(text).trim();
  if (trimmed === "") return null;
  if (!/^\d+(\.\d{0,2})?$/.test(trimmed)) return Number.NaN;
  return Math.round(Number(trimmed) * 100);
}

export function formatDate(iso) {
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** A short label for a UUID (its first block), for lists; the full id is in the title. */
export function shortId(id) {
  return String(id).split("-")[0];
}

/** A labelled form field: label, control, and the place for its error message. */
export function field(labelText, control, hint) {
  const name = control.getAttribute("name");
  const id = control.id || `f-${name}`;
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, labelText),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

/** A view's heading; it takes the focus when the view opens (tabindex -1: not in the tab order). */
export function heading(text) {
  return h("h1", { tabindex: "-1" }, text);
}
