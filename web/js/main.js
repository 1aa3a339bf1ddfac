// The storefront: a hash router over the views, the header, and the start-up.

import * as cart from "./cart.js";
import { loadConfig } from "./config.js";
import { h, replace } from "./dom.js";
import { configure } from "./http.js";
import * as session from "./session.js";
import { busy, clearMessages, notice, showError } from "./ui.js";
import { cartView } from "./views/cart.js";
import { catalogueView } from "./views/catalogue.js";
import { loginView, registerView } from "./views/auth.js";
import { ordersView } from "./views/orders.js";
import { productView } from "./views/product.js";
import { sellerFormView, sellerListView } from "./views/seller.js";

const ROUTES = [
  { pattern: /^\/$/, view: catalogueView, title: "Products" },
  { pattern: /^\/product\/([^/]+)$/, view: productView, title: "Product" },
  { pattern: /^\/login$/, view: loginView, title: "Log in" },
  { pattern: /^\/register$/, view: registerView, title: "Register" },
  { pattern: /^\/cart$/, view: cartView, title: "Cart" },
  { pattern: /^\/orders$/, view: ordersView, title: "My orders", auth: true },
  { pattern: /^\/sell$/, view: sellerListView, title: "My products", auth: true },
  { pattern: /^\/sell\/(new|[^/]+)$/, view: sellerFormView, title: "Sell", auth: true },
];

let rendering = 0;
let lastPath = null;
let cleanup = null;
let pendingNotice = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path || "/", params: new URLSearchParams(query) };
}

/** Go to `hash`, with `message` shown in the status line once the view is up. */
export function go(hash, message = null) {
  pendingNotice = message;
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  const current = ++rendering;
  const { path, params } = parseHash();
  const route = ROUTES.find((r) => r.pattern.test(path));
  const main = document.getElementById("main");
  if (cleanup) cleanup();
  cleanup = null;
  clearMessages();
  const message = pendingNotice;
  pendingNotice = null;
  updateNav(path);
  if (!route) {
    document.title = "Not found · Shop";
    replace(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the products")));
    return;
  }
  if (route.auth && !session.current()) {
    sessionStorage.setItem("shop.flash", "Please log in to see this page.");
    location.replace(`#/login?next=${encodeURIComponent(location.hash || "#/")}`);
    return;
  }
  document.title = `${route.title} · Shop`;
  const match = path.match(route.pattern);
  const context = { params, match, go, isCurrent: () => current === rendering };
  try {
    const result = await route.view(context);
    if (current !== rendering) {
      result?.cleanup?.();
      return;
    }
    replace(main, result.node);
    cleanup = result.cleanup || null;
    result.after?.();
  } catch (error) {
    if (current !== rendering) return;
    replace(main, h("h1", {}, route.title));
    showError(error);
  }
  if (message) notice(message);
  if (path !== lastPath) {
    lastPath = path;
    (main.querySelector("h1") || main).focus?.();
  }
}

function updateNav(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const target = link.getAttribute("href").replace(/^#/, "");
    const active = target === "/" ? path === "/" || path.startsWith("/product") : path.startsWith(target);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const count = cart.count();
  replace(document.getElementById("nav-cart"), count ? `Cart (${count})` : "Cart");
  const account = document.getElementById("account");
  const user = session.user();
  if (user) {
    const logout = h("button", { type: "button", class: "link" }, "Log out");
    logout.addEventListener("click", () =>
      busy(logout, async () => {
        await session.logout();
        go("#/", "You are logged out.");
      }),
    );
    replace(account, h("span", { class: "who", title: user.email }, user.name || user.email), logout);
  } else {
    replace(account, h("a", { href: "#/login" }, "Log in"), h("a", { href: "#/register" }, "Register"));
  }
}

async function start() {
  configure(await loadConfig());
  window.addEventListener("hashchange", render);
  session.onChange((current, reason) => {
    const { path } = parseHash();
    const route = ROUTES.find((r) => r.pattern.test(path));
    if (!current && route?.auth) {
      if (reason) sessionStorage.setItem("shop.flash", reason);
      location.replace(`#/login?next=${encodeURIComponent(location.hash)}`);
    } else {
      updateNav(path);
    }
  });
  cart.onChange(() => updateNav(parseHash().path));
  await render();
  document.body.dataset.ready = "true";
}

start().catch((error) => showError(error));
