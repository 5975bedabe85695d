// Operator sign-in: a person's email and password (and the authenticator's code when the
// account has a second factor), or an API key instead. A person's session is an HTTP-only
// cookie the API sets; a key is kept in sessionStorage for this tab only.

import { ApiError, api, apiKey } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { live } from "../live";
import { type Me, can, home, session } from "../permissions";

function signedIn(): void {
  location.hash = home();
  if (can("network:read")) void live.start();
}

function refusal(error: unknown, wrong: string): string {
  if (error instanceof ApiError && error.status === 401) return t(wrong);
  if (error instanceof ApiError && error.status === 429)
    return t("login.tooMany", { minutes: Math.max(1, Math.ceil((error.retryAfter ?? 60) / 60)) });
  return t("common.error");
}

function personForm(switchTo: () => void): HTMLFormElement {
  const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const code = h("input", { id: "login-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
    pattern: "[0-9]{6,8}", maxlength: 8 });
  const codeField = h("div", { id: "login-code-field", hidden: true },
    h("label", { for: "login-code" }, t("login.code")), code, h("p", { class: "hint" }, t("login.codeHint")));
  const message = h("p", { class: "error", role: "alert", id: "login-message" });
  const form = h("form", { class: "login", id: "login-person", onsubmit: async (e: Event) => {
    e.preventDefault();
    message.textContent = "";
    try {
      const answer = await api<{ token: string; me: Me }>("/access/login", { method: "POST", body: JSON.stringify({
        email: email.value.trim(), password: password.value, code: codeField.hidden ? null : code.value.trim() || null,
      }) });
      apiKey.clear();
      session.set(answer.me);
      signedIn();
    } catch (error) {
      const body = error instanceof ApiError ? (error.body ?? {}) as { code?: string } : {};
      if (body.code === "totp_required") {
        codeField.hidden = false;
        code.required = true;
        message.textContent = t("login.codeNeeded");
        code.focus();
        return;
      }
      message.textContent = refusal(error, codeField.hidden ? "login.wrongPassword" : "login.wrongCode");
    }
  } },
    h("h1", {}, t("login.title")),
    h("label", { for: "login-email" }, t("login.email")), email,
    h("label", { for: "login-password" }, t("login.password")), password,
    codeField,
    h("button", { type: "submit", id: "login" }, t("login.submit")),
    message,
    h("p", {}, h("a", { href: "#/login", id: "use-key", onclick: (e: Event) => { e.preventDefault(); switchTo(); } },
      t("login.useKey"))),
  );
  queueMicrotask(() => email.focus());
  return form;
}

function keyForm(switchTo: () => void): HTMLFormElement {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "login", id: "login-key", onsubmit: async (e: Event) => {
    e.preventDefault();
    apiKey.set(input.value.trim());
    try {
      if (await session.load()) signedIn();
      else message.textContent = t("login.wrong");
    } catch (error) {
      apiKey.clear();
      message.textContent = refusal(error, "login.wrong");
    }
  } },
    h("h1", {}, t("login.title")),
    h("label", { for: "api-key" }, t("login.key")),
    input,
    h("button", { type: "submit", id: "login" }, t("login.submit")),
    message,
    h("p", { class: "hint" }, t("login.hint")),
    h("p", {}, h("a", { href: "#/login", id: "use-password", onclick: (e: Event) => { e.preventDefault(); switchTo(); } },
      t("login.usePassword"))),
  );
  queueMicrotask(() => input.focus());
  return form;
}

export function loginPage(root: HTMLElement): void {
  const showPerson = () => root.replaceChildren(personForm(showKey));
  const showKey = () => root.replaceChildren(keyForm(showPerson));
  showPerson();
}
