// The user's orders, newest first, with cancel (delete). A 200 means the stock is back; a 202
// means the cancellation is recorded and the order service finishes it later. The API shows
// the owner nothing of a cancelled order (it is gone for them), so the page remembers the
// pending ones and watches the products' stock until every line's quantity has come back
// (docs/storefront.md, "Cancellation pending").

import { deleteOrder, getProduct, listOrders } from "../api.js";
import { formatDate, formatPrice, h, heading, replace, shortId } from "../dom.js";
import * as session from "../session.js";
import { busy, notice, showError } from "../ui.js";

const PAGE_SIZE = 10;
const PENDING_KEY = "shop.pending-cancellations";
const POLL_MS = 2000;
const GIVE_UP_MS = 5 * 60 * 1000;

/** This user's pending cancellations (the list is kept per user id). */
function storageKey() {
  return `${PENDING_KEY}.${session.user()?.id ?? "anonymous"}`;
}

function pending() {
  try {
    const stored = JSON.parse(localStorage.getItem(storageKey()) || "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function savePending(list) {
  localStorage.setItem(storageKey(), JSON.stringify(list));
}

/** Each line's product stock now (null where it cannot be read). */
async function stockOf(items) {
  return Promise.all(
    items.map(async (item) => {
      try {
        return (await getProduct(item.product_id)).product.stock;
      } catch (error) {
        return error.status === 404 ? "gone" : null;
      }
    }),
  );
}

/** Whether every line's stock is back: at least its baseline plus its quantity. */
async function stockReturned(entry) {
  const now = await stockOf(entry.items);
  return entry.items.every((item, i) => {
    if (now[i] === "gone") return true;
    return now[i] !== null && item.baseline !== null && now[i] >= item.baseline + item.quantity;
  });
}

export async function ordersView({ params }) {
  const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
  const listing = await listOrders({ offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  const pendingBox = h("div", { class: "pending", "aria-live": "polite" });
  const list = h("ul", { class: "orders" });
  const node = h("section", {}, heading("My orders"), pendingBox, list);
  let timer = null;
  let stopped = false;

  const drawPending = () => {
    const entries = pending();
    replace(
      pendingBox,
      entries.map((entry) =>
        h(
          "p",
          { class: "pending-cancel", "data-order-id": entry.order_id },
          `Order ${shortId(entry.order_id)}: cancellation pending. `,
          entry.gaveUp
            ? "It is recorded and will be finished by the shop; the stock comes back then."
            : "The stock comes back as soon as the product service confirms it.",
        ),
      ),
    );
  };

  const poll = async () => {
    if (stopped) return;
    const entries = pending();
    for (const entry of entries) {
      if (entry.gaveUp) continue;
      if (await stockReturned(entry)) {
        savePending(pending().filter((e) => e.order_id !== entry.order_id));
        notice(`Order ${shortId(entry.order_id)} is cancelled and its stock is back.`);
      } else if (Date.now() - entry.since > GIVE_UP_MS) {
        savePending(pending().map((e) => (e.order_id === entry.order_id ? { ...e, gaveUp: true } : e)));
      }
    }
    if (stopped) return;
    drawPending();
    if (pending().some((e) => !e.gaveUp)) timer = setTimeout(poll, POLL_MS);
  };

  const cancel = async (order, row) => {
    const baselines = await stockOf(order.items);
    let status;
    try {
      status = await deleteOrder(order.id);
    } catch (error) {
      showError(error, { context: `Order ${shortId(order.id)} was not cancelled` });
      return;
    }
    row.remove();
    if (status === 202) {
      const items = order.items.map((item, i) => ({
        product_id: item.product_id,
        quantity: item.quantity,
        baseline: typeof baselines[i] === "number" ? baselines[i] : null,
      }));
      savePending([...pending(), { order_id: order.id, items, since: Date.now() }]);
      drawPending();
      clearTimeout(timer);
      timer = setTimeout(poll, POLL_MS);
    } else {
      notice(`Order ${shortId(order.id)} is cancelled and its stock is back.`);
    }
  };

  const row = (order) => {
    const cancelButton = h("button", { type: "button", "aria-label": `Cancel order ${shortId(order.id)}` }, "Cancel order");
    const confirmButton = h("button", { type: "button", class: "danger", hidden: true, "aria-label": `Yes, cancel it: order ${shortId(order.id)}` }, "Yes, cancel it");
    const item = h(
      "li",
      { class: "order", "data-order-id": order.id, "data-status": order.status },
      h(
        "div",
        { class: "order-head" },
        h("h2", { title: order.id }, `Order ${shortId(order.id)}`),
        h("span", { class: `badge ${order.status}` }, order.status),
        h("span", { class: "muted small" }, formatDate(order.created_at)),
      ),
      h(
        "ul",
        { class: "order-items" },
        order.items.map((line) => h("li", {}, `${line.quantity} × ${line.name} at ${formatPrice(line.unit_price)}`)),
      ),
      h("p", { class: "total" }, `Total: ${formatPrice(order.total)}`),
      h("div", { class: "row" }, cancelButton, confirmButton),
    );
    cancelButton.addEventListener("click", () => {
      confirmButton.hidden = false;
      confirmButton.focus();
    });
    confirmButton.addEventListener("click", () => busy(confirmButton, () => cancel(order, item)));
    return item;
  };

  if (!listing.results.length) {
    list.replaceWith(h("p", { class: "empty" }, "No order yet. ", h("a", { href: "#/" }, "Browse the products")));
  } else {
    replace(list, listing.results.map(row));
  }
  const pages = Math.max(1, Math.ceil(listing.count / PAGE_SIZE));
  node.append(
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      page > 1 ? h("a", { class: "button", href: `#/orders?page=${page - 1}`, rel: "prev" }, "Previous page") : null,
      listing.count ? h("span", { class: "muted" }, `Page ${page} of ${pages}`) : null,
      page < pages ? h("a", { class: "button", href: `#/orders?page=${page + 1}`, rel: "next" }, "Next page") : null,
    ),
  );
  drawPending();
  if (pending().some((e) => !e.gaveUp)) timer = setTimeout(poll, 0);
  return {
    node,
    cleanup: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
