// The signed-in session: the token pair and the profile, shared by every tab of this origin.
//
// Where the tokens live, and why (docs/storefront.md): in localStorage. The API hands out
// bearer tokens in JSON bodies and has no cookie session, so the page must hold them in
// script-readable storage; localStorage is the one every tab shares, which refresh needs
// (below), and it survives a reload. The risk of script-readable tokens is XSS, which the
// page closes: a Content-Security-Policy with script-src 'self' (no inline script, no eval)
// and user content rendered only as text (dom.js).
//
// Refresh is single-flight across tabs. Refresh tokens rotate and a reused one revokes its
// whole family, so two tabs refreshing with the same token at once would log the user out.
// A refresh runs under the Web Lock "shop.refresh" (a lease in localStorage where Web Locks
// are missing); inside it, the stored pair is read again, and when another tab has already
// rotated it, that new pair is used and no second refresh is sent.

import { ApiError, randomUuid, send } from "./http.js";

const KEY = "shop.session";
const LEASE_KEY = "shop.refresh-lease";
const listeners = new Set();
let inflight = null;

export function current() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || "null");
    return stored && typeof stored.access === "string" && typeof stored.refresh === "string"
      ? stored
      : null;
  } catch {
    return null;
  }
}

function store(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
  notify();
}

/** Call `listener(session)` on every change, in this tab or another. */
export function onChange(listener) {
  listeners.add(listener);
}

function notify(reason) {
  for (const listener of listeners) listener(current(), reason);
}

window.addEventListener("storage", (event) => {
  if (event.key === KEY || event.key === null) notify();
});

/** The `exp`/`iat` of a JWT, read only to time the refresh (the server checks the token). */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function expiresSoon(token) {
  const c = claims(token);
  if (!c || typeof c.exp !== "number") return true;
  const life = typeof c.iat === "number" ? c.exp - c.iat : 900;
  const margin = Math.min(30, Math.max(1, life / 5));
  return Date.now() / 1000 >= c.exp - margin;
}

/** End the session here and in every tab; `reason` is shown on the login page. */
export function end(reason) {
  localStorage.removeItem(KEY);
  if (reason) sessionStorage.setItem("shop.flash", reason);
  notify(reason);
}

export function takeFlash() {
  const text = sessionStorage.getItem("shop.flash");
  sessionStorage.removeItem("shop.flash");
  return text;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Run `task` while holding the cross-tab refresh lock. */
async function withRefreshLock(task) {
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request("shop.refresh", task);
  }
  const me = randomUuid();
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const lease = JSON.parse(localStorage.getItem(LEASE_KEY) || "null");
    if (!lease || lease.until < Date.now()) {
      localStorage.setItem(LEASE_KEY, JSON.stringify({ owner: me, until: Date.now() + 10000 }));
      await sleep(30);
      if (JSON.parse(localStorage.getItem(LEASE_KEY) || "null")?.owner === me) break;
    }
    await sleep(100);
  }
  try {
    return await task();
  } finally {
    if (JSON.parse(localStorage.getItem(LEASE_KEY) || "null")?.owner === me) {
      localStorage.removeItem(LEASE_KEY);
    }
  }
}

async function rotate(staleAccess) {
  const session = current();
  if (!session) return null;
  if (session.access !== staleAccess && !expiresSoon(session.access)) return session;
  let answer;
  try {
    answer = await send("user", "/api/v1/refresh-token/", {
      method: "POST",
      body: { refresh_token: session.refresh },
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      end("Your session has ended: it expired, or its refresh token was used again. Please log in.");
      return null;
    }
    throw error; // unreachable, 429 or 503: keep the session, the next call tries again
  }
  const next = { ...session, access: answer.body.data.access, refresh: answer.body.data.refresh };
  store(next);
  return next;
}

/**
 * A fresh pair after `staleAccess` was found expiring or refused: this tab's refresh in
 * flight if there is one, else one under the cross-tab lock. Null when the session ended.
 */
export function refresh(staleAccess) {
  if (!inflight) {
    inflight = withRefreshLock(() => rotate(staleAccess)).finally(() => {
      inflight = null;
    });
  }
  return inflight;
}

/** An access token that is not about to expire (refreshing first if it is); null if none. */
export async function accessToken() {
  const session = current();
  if (!session) return null;
  if (!expiresSoon(session.access)) return session.access;
  const next = await refresh(session.access);
  return next ? next.access : null;
}

async function profile(access) {
  const answer = await send("user", "/api/v1/profile/", {
    headers: { Authorization: `Bearer ${access}` },
  });
  return answer.body.data;
}

async function begin(tokens) {
  const user = await profile(tokens.access);
  store({ access: tokens.access, refresh: tokens.refresh, user });
}

export async function login(email, password) {
  const answer = await send("user", "/api/v1/login/", {
    method: "POST",
    body: { email, password },
  });
  await begin(answer.body.data);
}

export async function register(email, password, name) {
  const body = { email, password };
  if (name) body.name = name;
  const answer = await send("user", "/api/v1/register/", { method: "POST", body });
  await begin(answer.body.data);
}

/** Log out at the API (both tokens stop working there), then here and in every tab. */
export async function logout() {
  const session = current();
  if (session) {
    try {
      const access = await accessToken();
      const latest = current() || session;
      await send("user", "/api/v1/logout/", {
        method: "POST",
        headers: { Authorization: `Bearer ${access || latest.access}` },
        body: { refresh_token: latest.refresh },
      });
    } catch {
      // Already ended at the API, or unreachable: the tokens are dropped here all the same.
    }
  }
  end(null);
}

export function user() {
  return current()?.user ?? null;
}
