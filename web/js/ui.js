// Messages: the alert banner (errors), the status line (notices) and errors next to fields.

import { h, replace } from "./dom.js";
import { ApiError } from "./http.js";

const alertBox = () => document.getElementById("alert");
const noticeBox = () => document.getElementById("notice");

export function clearMessages() {
  const box = alertBox();
  box.hidden = true;
  box.replaceChildren();
  noticeBox().replaceChildren();
}

export function notice(text) {
  replace(noticeBox(), text);
}

/** The field a validation `loc` is about: its last name after "body"/"query"/"path". */
function fieldName(loc) {
  if (!Array.isArray(loc)) return null;
  const names = loc.filter((part) => typeof part === "string");
  const last = names[names.length - 1];
  return last && !["body", "query", "path", "header"].includes(last) ? last : null;
}

export function clearFieldErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) {
    p.hidden = true;
    p.replaceChildren();
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
  }
}

/** Put each `details` message next to its field; the ones with no field are returned. */
export function showFieldErrors(form, details) {
  const unplaced = [];
  let first = null;
  for (const detail of details) {
    const name = fieldName(detail.loc);
    const box = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!box) {
      unplaced.push(detail);
      continue;
    }
    const message = box.querySelector(".field-error");
    const control = box.querySelector("input, select, textarea");
    message.hidden = false;
    message.append(h("span", {}, String(detail.msg)));
    control?.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  first?.focus();
  return unplaced;
}

/** A readable sentence for any error, with what to do next where there is something. */
export function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error.message}`;
  let text = error.message;
  if (error.status === 429) {
    text += error.retryAfter !== null
      ? ` Too many requests: try again in ${error.retryAfter} s.`
      : " Too many requests: try again shortly.";
  } else if (error.status === 503) {
    text += " A service the shop depends on is unavailable; try again in a moment.";
  }
  return text;
}

/**
 * Show `error`: validation details beside the fields of `form` (the rest in the banner),
 * anything else in the banner. A 401 sends the user to the login page, to come back after.
 */
export function showError(error, { form = null, context = null, loginOn401 = true } = {}) {
  let rest = error instanceof ApiError ? error.details : [];
  if (form) {
    clearFieldErrors(form);
    if (error instanceof ApiError && error.status === 422) rest = showFieldErrors(form, rest);
  }
  if (loginOn401 && error instanceof ApiError && error.status === 401) {
    // Already on its way to the login page (the session ended and the router was told):
    // the reason it left there is the one to show.
    if (location.hash.startsWith("#/login")) return;
    const back = location.hash || "#/";
    sessionStorage.setItem("shop.flash", error.message);
    location.hash = `#/login?next=${encodeURIComponent(back)}`;
    return;
  }
  const box = alertBox();
  const lines = rest
    .filter((detail) => detail && typeof detail === "object" && "msg" in detail)
    .map((detail) => {
      const name = fieldName(detail.loc);
      return h("li", {}, name ? `${name}: ${detail.msg}` : String(detail.msg));
    });
  replace(
    box,
    h("p", {}, context ? `${context}: ${describe(error)}` : describe(error)),
    lines.length ? h("ul", {}, lines) : null,
    error instanceof ApiError && error.requestId
      ? h("p", { class: "muted small" }, `Request id: ${error.requestId}`)
      : null,
  );
  box.hidden = false;
}

/** Disable `button` while `task` runs (a double click sends nothing twice). */
export async function busy(button, task) {
  if (button.disabled) return undefined;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await task();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
