// One HTTP call to one of the three APIs, with the API's error envelope turned into an
// ApiError. Cross-origin, with no cookies (credentials: "omit"): the API uses bearer tokens.

let config = null;

export function configure(loaded) {
  config = loaded;
}


/** An answer that was not a success: the API's envelope {message, code, details}. */
export class ApiError extends Error {
  constructor({ status, code, message, details = [], retryAfter = null, requestId = null, service }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.retryAfter = retryAfter;
    this.requestId = requestId;
    this.service = service;
  }

  /** A timeout or a reset: the request may have happened (never "it did not"). */
  get ambiguous() {
    return this.code === "timeout" || this.code === "unreachable";
  }
}

function envelopeError(service, response, body) {
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  const envelope = body && typeof body === "object" ? body : {};
  return new ApiError({
    status: response.status,
    code: typeof envelope.code === "string" ? envelope.code : `http_${response.status}`,
    message:
      typeof envelope.message === "string" && envelope.message
        ? envelope.message
        : `The ${service} service answered ${response.status}.`,
    details: envelope.details,
    retryAfter: Number.isFinite(retry) ? retry : null,
    requestId: response.headers.get("X-Request-ID"),
    service,
  });
}

function unreachable(service, base, timedOut) {
  const message = timedOut
    ? `The ${service} service (${base}) did not answer in time.`
    : `Could not reach the ${service} service (${base}). It may be down, or it does not ` +
      `accept calls from this page's origin (${location.origin}): the API lists the origins ` +
      "it allows in CORS_ORIGINS.";
  return new ApiError({
    status: 0,
    code: timedOut ? "timeout" : "unreachable",
    message,
    service,
  });
}

/**
 * send("product", "/api/v1/product/", {method, body, headers, query, timeoutMs})
 * resolves to {status, body, headers} for a 2xx, and rejects with an ApiError otherwise.
 */
export async function send(service, path, options = {}) {
  const { method = "GET", body, headers = {}, query, timeoutMs = 15000 } = options;
  const base = config[`${service}Api`];
  let url = base + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: { ...headers }, mode: "cors", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  init.signal = controller.signal;
  try {
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw unreachable(service, base, error.name === "AbortError");
    }
    let parsed = null;
    try {
      const text = await response.text();
      parsed = text ? JSON.parse(text) : null;
    } catch (error) {
      if (error.name === "AbortError") throw unreachable(service, base, true);
      parsed = null;
    }
    if (!response.ok) throw envelopeError(service, response, parsed);
    return { status: response.status, body: parsed, headers: response.headers };
  } finally {
    clearTimeout(timer);
  }
}

/** A random UUID v4 (crypto.getRandomValues works on plain-HTTP origins too). */
export function randomUuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
