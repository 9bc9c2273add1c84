// Log in: exchanges GATEWAY_TOKEN for a session cookie (POST /ui/login).

import { api } from "../api.js";
import { field, h, notice, replace } from "../dom.js";

/** The login form; calls `done()` once the gateway accepted the token. */
export function loginForm(done) {
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true });
  const message = h("div", { class: "message" });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in"),
    h("p", {}, "Enter the gateway's management token (GATEWAY_TOKEN)."),
    field("Gateway token", input),
    button,
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    replace(message);
    try {
      await api("/ui/login", { method: "POST", body: { token: input.value }, allow: [401] }).then(({ status, body }) => {
        if (status === 401) throw new Error((body && body.error && body.error.message) || "That token was not accepted.");
      });
      input.value = "";
      done();
    } catch (e) {
      replace(message, notice("error", e.message));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return form;
}
