// The signed-in person's own account: who they are, their second factor (TOTP: a QR code and
// the secret for the authenticator app, confirmed with its first code) and their password
// (given the current one; their other sessions end). A key has neither.

import qrcode from "qrcode-generator";
import { ApiError, api } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { session } from "../permissions";
import { reason } from "./people";

/** The otpauth:// URI as a QR code (an SVG an authenticator app's camera reads). */
function qr(uri: string): HTMLElement {
  const code = qrcode(0, "M");
  code.addData(uri);
  code.make();
  const figure = h("figure", { id: "totp-qr", class: "qr" });
  figure.innerHTML = code.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
  figure.querySelector("svg")?.setAttribute("aria-label", t("account.qrLabel"));
  return figure;
}

/** "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP": easier to type into an app by hand. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

function secondFactor(): HTMLElement {
  const box = h("section", { id: "totp-section" });
  const on = () => session.me?.totp === true;
  const status = () => h("p", { id: "totp-status", class: on() ? "ok" : "warning" },
    on() ? t("account.totpOn") : t("account.totpOff"));
  const start = h("button", { type: "button", id: "totp-start" });
  const message = h("p", { role: "alert", id: "totp-message" });
  const draw = () => {
    start.textContent = on() ? t("account.totpMove") : t("account.totpStart");
    box.replaceChildren(h("h2", {}, t("account.totpTitle")), status(),
      h("p", { class: "hint" }, t("account.totpHint")), start, message);
  };
  start.addEventListener("click", async () => {
    message.textContent = ""; message.className = "";
    try {
      const { secret, uri } = await api<{ secret: string; uri: string }>("/access/me/totp", { method: "POST" });
      const code = h("input", { id: "totp-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
        pattern: "[0-9]{6,8}", maxlength: 8, required: true });
      const form = h("form", { id: "totp-confirm", class: "filters", onsubmit: async (e: Event) => {
        e.preventDefault();
        message.textContent = ""; message.className = "";
        try {
          await api("/access/me/totp/confirm", { method: "POST", body: JSON.stringify({ code: code.value.trim() }) });
          session.set({ ...session.me!, totp: true });
          draw();
          message.className = "ok";
          message.textContent = t("account.totpDone");
        } catch (error) {
          message.className = "error";
          message.textContent = error instanceof ApiError && error.status === 422 ? t("account.totpWrong") : reason(error);
        }
      } }, h("label", {}, t("account.totpCode"), code), h("button", { type: "submit", id: "totp-confirm-button" },
        t("account.totpConfirm")));
      box.replaceChildren(h("h2", {}, t("account.totpTitle")), status(),
        h("ol", { class: "steps" },
          h("li", {}, t("account.totpStep1")),
          h("li", {}, t("account.totpStep2"), qr(uri),
            h("p", { class: "hint" }, t("account.totpManual")),
            h("p", {}, h("code", { id: "totp-secret", "data-secret": secret }, grouped(secret))),
            h("details", {}, h("summary", {}, t("account.totpUri")), h("code", { id: "totp-uri" }, uri))),
          h("li", {}, t("account.totpStep3"), form)),
        message);
      code.focus();
    } catch (error) { message.className = "error"; message.textContent = reason(error); }
  });
  draw();
  return box;
}

function password(): HTMLElement {
  const current = h("input", { id: "password-current", type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { id: "password-new", type: "password", autocomplete: "new-password", required: true,
    minlength: 12, maxlength: 200 });
  const again = h("input", { id: "password-again", type: "password", autocomplete: "new-password", required: true });
  const message = h("p", { role: "alert", id: "password-message" });
  return h("section", { id: "password-section" }, h("h2", {}, t("account.passwordTitle")),
    h("form", { class: "filters", id: "password-form", onsubmit: async (e: Event) => {
      e.preventDefault();
      message.className = "error";
      if (fresh.value !== again.value) { message.textContent = t("account.passwordMismatch"); return; }
      try {
        await api("/access/me/password", { method: "POST", body: JSON.stringify({
          current_password: current.value, new_password: fresh.value }) });
        (e.target as HTMLFormElement).reset();
        message.className = "ok";
        message.textContent = t("account.passwordDone");
      } catch (error) { message.textContent = reason(error); }
    } },
    h("label", {}, t("account.passwordCurrent"), current),
    h("label", {}, t("account.passwordNew"), fresh),
    h("label", {}, t("account.passwordAgain"), again),
    h("button", { type: "submit", id: "password-change" }, t("account.passwordChange"))),
    h("p", { class: "hint" }, t("account.passwordHint")), message);
}

export function accountPage(root: HTMLElement): void {
  const me = session.me!;
  root.append(h("h1", {}, t("account.title")),
    h("dl", { id: "account-who" },
      h("dt", {}, t("people.name")), h("dd", {}, me.person ?? me.name),
      h("dt", {}, me.kind === "account" ? t("people.email") : t("keys.name")), h("dd", {}, me.name),
      h("dt", {}, t("people.role")), h("dd", { title: me.role_description }, t(`role.${me.role}`))));
  if (me.kind !== "account") {
    root.append(h("p", { class: "hint", id: "account-key" }, t("account.isKey")));
    return;
  }
  root.append(secondFactor(), password());
}
