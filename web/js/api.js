// The calls the views make. Authorized calls get a fresh access token first and, when the
// API still refuses it (401: revoked, or expired in flight), refresh once and try again; a
// session that cannot be refreshed ends, and the caller gets the 401.

import { ApiError, send } from "./http.js";
import * as session from "./session.js";

function loginRequired() {
  return new ApiError({
    status: 401,
    code: "not_authenticated",
    message: "Please log in first.",
    service: "user",
  });
}

export async function authorized(service, path, options = {}) {
  const token = await session.accessToken();
  if (!token) throw loginRequired();
  const withToken = (access) => ({
    ...options,
    headers: { ...(options.headers || {}), Authorization: `Bearer ${access}` },
  });
  try {
    return await send(service, path, withToken(token));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    const next = await session.refresh(token);
    if (!next) throw loginRequired();
    try {
      return await send(service, path, withToken(next.access));
    } catch (again) {
      if (again instanceof ApiError && again.status === 401) {
        session.end("Your session is no longer valid. Please log in again.");
      }
      throw again;
    }
  }
}

// -- products (public reads, seller writes)
export async function listProducts(query) {
  return (await send("product", "/api/v1/product/", { query })).body;
}

export async function getProduct(id) {
  const answer = await send("product", `/api/v1/product/${encodeURIComponent(id)}/`);
  return { product: answer.body.data, etag: answer.headers.get("ETag") };
}

export async function createProduct(fields) {
  const answer = await authorized("product", "/api/v1/product/", { method: "POST", body: fields });
  return answer.body.data;
}

export async function updateProduct(id, changes, etag) {
  const headers = etag ? { "If-Match": etag } : {};
  const answer = await authorized("product", `/api/v1/product/${encodeURIComponent(id)}/`, {
    method: "PATCH",
    body: changes,
    headers,
  });
  return { product: answer.body.data, etag: answer.headers.get("ETag") };
}

export async function deleteProduct(id) {
  await authorized("product", `/api/v1/product/${encodeURIComponent(id)}/`, { method: "DELETE" });
}

// -- orders (the caller's own)
export async function placeOrder(items, idempotencyKey) {
  const answer = await authorized("order", "/api/v1/order/", {
    method: "POST",
    body: { items },
    headers: { "Idempotency-Key": idempotencyKey },
    timeoutMs: 30000,
  });
  return answer.body.data;
}

export async function listOrders(query) {
  return (await authorized("order", "/api/v1/order/", { query })).body;
}

/** 200: cancelled and its stock is back; 202: recorded, the stock comes back later. */
export async function deleteOrder(id) {
  const answer = await authorized("order", `/api/v1/order/${encodeURIComponent(id)}/`, {
    method: "DELETE",
    timeoutMs: 30000,
  });
  return answer.status;
}
