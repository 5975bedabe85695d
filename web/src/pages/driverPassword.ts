// A forgotten password: ask for a reset link by email (#/driver/forgot), then set a new
// password with the link's token (#/driver/reset/<token>). The token stays in the URL's
// fragment, which the browser never sends to a server.

import { h } from "../dom";
import { driver } from "../driver";
import { MAX_PASSWORD, MIN_PASSWORD, reasonKey, refusal } from "../driverRefusals";
import { number, t } from "../i18n";

/** Reset-link refusals after which only a new link helps. */
const DEAD_LINK = new Set(["driver.linkUnknown", "driver.linkUsed", "driver.linkExpired"]);

/** A new password and its repetition, with the API's rule checked in the browser too. */
export function newPasswordFields(prefix: string) {
  const attrs = { type: "password", autocomplete: "new-password", minlength: MIN_PASSWORD,
    maxlength: MAX_PASSWORD, required: true };
  const password = h("input", { id: `${prefix}-password`, ...attrs });
  const repeat = h("input", { id: `${prefix}-repeat`, ...attrs });
  const rule = t("driver.passwordRule", { min: number(MIN_PASSWORD, 0), max: number(MAX_PASSWORD, 0) });
  return {
    password, repeat,
    fields: [
      h("label", { for: password.id }, t("driver.newPasswordLabel")), password,
      h("label", { for: repeat.id }, t("driver.repeatPassword")), repeat,
      h("p", { class: "hint" }, rule),
    ],
    /** Why the two fields cannot be sent, or null if they can. */
    problem: (): string | null => (password.value !== repeat.value ? t("driver.passwordsDiffer") : null),
  };
}

/** Put `text` in a form's message line, styled as a success or a refusal. */
export function say(message: HTMLElement, text: string, ok: boolean): void {
  message.className = ok ? "ok" : "error";
  message.replaceChildren(text);
}

export function forgotPasswordPage(root: HTMLElement): void {
  const email = h("input", { id: "forgot-email", type: "email", autocomplete: "username", required: true });
  const message = h("p", { id: "forgot-message", role: "alert" });
  const send = h("button", { type: "submit", id: "forgot-send" }, t("driver.sendLink"));
  const form = h("form", { class: "login", id: "forgot-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    send.disabled = true;
    message.replaceChildren();
    try {
      await driver.askReset(email.value.trim());
      say(message, t("driver.linkSent"), true);  // the same whether or not the email has an account
    } catch (error) {
      say(message, refusal(error), false);
    } finally {
      send.disabled = false;
    }
  } },
    h("h1", {}, t("driver.forgotTitle")),
    h("p", { class: "hint" }, t("driver.forgotHint")),
    h("label", { for: "forgot-email" }, t("driver.email")), email,
    send,
    message,
    h("a", { id: "forgot-back", href: "#/driver/login" }, t("driver.backToLogin")),
  );
  root.append(form);
  email.focus();
}

export function resetPasswordPage(root: HTMLElement, token: string): void {
  const pair = newPasswordFields("reset");
  const message = h("p", { id: "reset-message", role: "alert" });
  const form: HTMLFormElement = h("form", { class: "login", id: "reset-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    message.replaceChildren();
    const problem = pair.problem();
    if (problem) return say(message, problem, false);
    try {
      await driver.resetPassword(token, pair.password.value);
      say(message, t("driver.resetDone"), true);
      form.replaceChildren(h("h1", {}, t("driver.resetTitle")), message,
        h("a", { id: "reset-login", href: "#/driver/login" }, t("driver.login")));
    } catch (error) {
      say(message, refusal(error), false);
      if (DEAD_LINK.has(reasonKey(error) ?? "")) {
        message.append(" ", h("a", { id: "reset-ask-again", href: "#/driver/forgot" }, t("driver.askNewLink")));
      }
    }
  } },
    h("h1", {}, t("driver.resetTitle")),
    ...pair.fields,
    h("button", { type: "submit", id: "reset-save" }, t("driver.setPassword")),
    message,
  );
  root.append(form);
  pair.password.focus();
}
