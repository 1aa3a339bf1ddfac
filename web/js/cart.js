// The cart, kept in localStorage (shared by the tabs, kept across reloads). Each line holds
// the product's name and price as seen when it was added, for display only: the order
// service reads the real ones when the order is placed.

const KEY = "shop.cart";
const CHECKOUT_KEY = "shop.checkout";
const listeners = new Set();
export const MAX_QUANTITY = 1000;

export function lines() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function save(next) {
  localStorage.setItem(KEY, JSON.stringify(next));
  for (const listener of listeners) listener(next);
}

/** Call `listener(lines)` on every change, in this tab or another; returns the unsubscribe. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

window.addEventListener("storage", (event) => {
  if (event.key === KEY) for (const listener of listeners) listener(lines());
});

export function add(product, quantity = 1) {
  const next = lines();
  const line = next.find((l) => l.product_id === product.id);
  if (line) {
    line.quantity = Math.min(MAX_QUANTITY, line.quantity + quantity);
  } else {
    next.push({
      product_id: product.id,
      name: product.name,
      unit_price: product.price,
      quantity: Math.min(MAX_QUANTITY, quantity),
    });
  }
  save(next);
}

export function setQuantity(productId, quantity) {
  save(lines().map((l) => (l.product_id === productId ? { ...l, quantity } : l)));
}

export function remove(productId) {
  save(lines().filter((l) => l.product_id !== productId));
}

export function clear() {
  save([]);
  localStorage.removeItem(CHECKOUT_KEY);
}

export function count() {
  return lines().reduce((sum, l) => sum + l.quantity, 0);
}

/**
 * The Idempotency-Key of the order these lines make. The same cart keeps its key until the
 * order is placed (or refused for good), so a double click, a retry after a timeout or a
 * second tab never places two orders; a changed cart is another order and gets a new key.
 */
export function checkoutKey(items, makeKey) {
  const body = JSON.stringify(items);
  try {
    const stored = JSON.parse(localStorage.getItem(CHECKOUT_KEY) || "null");
    if (stored && stored.body === body) return stored.key;
  } catch {
    // a damaged entry: replaced below
  }
  const key = makeKey();
  localStorage.setItem(CHECKOUT_KEY, JSON.stringify({ body, key }));
  return key;
}

export function forgetCheckoutKey() {
  localStorage.removeItem(CHECKOUT_KEY);
}
