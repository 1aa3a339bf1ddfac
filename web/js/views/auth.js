// Log in and register. After either, the user goes back where they were sent from (?next=).

import { field, h, heading } from "../dom.js";
import * as session from "../session.js";
import { busy, notice, showError } from "../ui.js";

function nextHash(params) {
  const next = params.get("next") || "#/";
  return next.startsWith("#/") && !next.startsWith("#/login") && !next.startsWith("#/register")
    ? next
    : "#/";
}

function authForm({ title, fields, submitLabel, submit, params, go, other }) {
  const button = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { class: "stack", novalidate: true }, ...fields, button);
  const flash = session.takeFlash();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      try {
        await submit();
        go(nextHash(params), "You are logged in.");
      } catch (error) {
        showError(error, { form, loginOn401: false });
        if (error.status === 429 && error.retryAfter) holdButton(button, error.retryAfter);
      }
    });
  });
  const node = h("section", { class: "narrow" }, heading(title), form, other);
  return { node, after: () => flash && notice(flash) };
}

/** Keep `button` disabled for `seconds` (after a 429), counting down on it. */
function holdButton(button, seconds) {
  const label = button.textContent;
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      return;
    }
    button.disabled = true;
    button.textContent = `${label} (wait ${left} s)`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 0);
}

export async function loginView({ params, go }) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  return authForm({
    title: "Log in",
    fields: [field("Email", email), field("Password", password)],
    submitLabel: "Log in",
    submit: () => session.login(email.value.trim(), password.value),
    params,
    go,
    other: h("p", {}, "No account yet? ", h("a", { href: `#/register?${params}` }, "Register")),
  });
}

export async function registerView({ params, go }) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const name = h("input", { name: "name", autocomplete: "name" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true });
  return authForm({
    title: "Register",
    fields: [
      field("Email", email),
      field("Name (optional)", name),
      field(
        "Password",
        password,
        "8 to 128 characters with an upper-case and a lower-case letter, a digit and a special character; no spaces, not your email.",
      ),
    ],
    submitLabel: "Create account",
    submit: () => session.register(email.value.trim(), password.value, name.value.trim()),
    params,
    go,
    other: h("p", {}, "Already registered? ", h("a", { href: `#/login?${params}` }, "Log in")),
  });
}
