// The logged-in driver's account (#/driver/account): who they are, their tokens, a link to
// their reservations, changing the password, their charging sessions and receipts, and their
// data (download, delete: pages/driverData.ts). Without a login it asks for one first.

import { h } from "../dom";
import { afterLogin, driver, type DriverAccount } from "../driver";
import { refusal } from "../driverRefusals";
import { t } from "../i18n";
import { dataSection, sessionsSection } from "./driverData";
import { newPasswordFields, say } from "./driverPassword";

function changePasswordForm(): HTMLFormElement {
  const current = h("input", { id: "change-current", type: "password", autocomplete: "current-password", required: true });
  const pair = newPasswordFields("change");
  const message = h("p", { id: "change-message", role: "alert" });
  const form: HTMLFormElement = h("form", { class: "login", id: "change-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    message.replaceChildren();
    const problem = pair.problem();
    if (problem) return say(message, problem, false);
    try {
      await driver.changePassword(current.value, pair.password.value);
      form.reset();
      say(message, t("driver.passwordChanged"), true);
    } catch (error) {
      say(message, refusal(error), false);
    }
  } },
    h("h2", {}, t("driver.changeTitle")),
    h("label", { for: "change-current" }, t("driver.currentPassword")), current,
    ...pair.fields,
    h("button", { type: "submit", id: "change-save" }, t("driver.changePassword")),
    message,
  );
  return form;
}

function details(account: DriverAccount): HTMLElement {
  return h("section", { id: "account-details" },
    h("dl", {},
      h("dt", {}, t("driver.name")), h("dd", { id: "account-name" }, account.name),
      h("dt", {}, t("driver.email")), h("dd", { id: "account-email" }, account.email),
      h("dt", {}, t("driver.tokens")), h("dd", { id: "account-tokens" }, account.tokens.join(", ") || "–")),
    h("p", {}, h("a", { href: "#/find" }, t("driver.reservationsLink"))));
}

export function driverAccountPage(root: HTMLElement): void {
  const page = h("div", { id: "driver-account" });  // left detached if the driver moves on first
  root.append(page);
  void driver.get().then((account) => {
    if (!account) {
      afterLogin.set("#/driver/account");
      location.hash = "#/driver/login";
      return;
    }
    page.replaceChildren(h("h1", {}, t("driver.accountTitle")),
      h("div", { class: "login-pair" }, details(account), changePasswordForm()),
      sessionsSection(), dataSection());
  }).catch((error) => page.replaceChildren(h("p", { class: "error" }, refusal(error))));
}
