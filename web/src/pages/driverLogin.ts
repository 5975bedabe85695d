// Driver log-in and registration. Browsing needs neither; reserving needs a logged-in driver.

import { ApiError } from "../api";
import { h } from "../dom";
import { afterLogin, driver } from "../driver";
import { refusal } from "../driverRefusals";
import { LANGUAGES, language, t } from "../i18n";

/** A refused login or registration in plain words; too many attempts say when to retry. */
function reason(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return t("driver.wrong");
  if (error instanceof ApiError && error.status === 409) return t("driver.exists");
  return refusal(error);
}

export function driverLoginPage(root: HTMLElement): void {
  const email = h("input", { id: "driver-email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "driver-password", type: "password", autocomplete: "current-password", required: true });
  const loginMessage = h("p", { class: "error", role: "alert" });
  const login = h("form", { class: "login", id: "driver-login-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    try {
      await driver.login(email.value, password.value);
      location.hash = afterLogin.take();
    } catch (error) {
      loginMessage.textContent = reason(error);
    }
  } },
    h("h1", {}, t("driver.loginTitle")),
    h("label", { for: "driver-email" }, t("driver.email")), email,
    h("label", { for: "driver-password" }, t("driver.password")), password,
    h("button", { type: "submit", id: "driver-login" }, t("driver.login")),
    loginMessage,
    h("a", { id: "driver-forgot-link", href: "#/driver/forgot" }, t("driver.forgot")),
    h("p", { class: "hint" }, t("driver.why")),
  );

  const name = h("input", { id: "reg-name", autocomplete: "name", required: true });
  const regEmail = h("input", { id: "reg-email", type: "email", autocomplete: "username", required: true });
  const regPassword = h("input", { id: "reg-password", type: "password", autocomplete: "new-password", minlength: 8, required: true });
  const registerMessage = h("p", { class: "error", role: "alert" });
  const register = h("form", { class: "login", id: "driver-register-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    try {
      await driver.register(regEmail.value, regPassword.value, name.value, language in LANGUAGES ? language : "en");
      location.hash = afterLogin.take();
    } catch (error) {
      registerMessage.textContent = reason(error);
    }
  } },
    h("h2", {}, t("driver.registerTitle")),
    h("label", { for: "reg-name" }, t("driver.name")), name,
    h("label", { for: "reg-email" }, t("driver.email")), regEmail,
    h("label", { for: "reg-password" }, t("driver.newPassword")), regPassword,
    h("button", { type: "submit", id: "driver-register" }, t("driver.register")),
    registerMessage,
  );
  root.append(h("div", { class: "login-pair" }, login, register));
  email.focus();
}
