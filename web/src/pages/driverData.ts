// The driver's own data on their account page: their charging sessions with what each cost and
// its receipt to download, all their data as one JSON file, and deleting the account
// (docs/driver.md, "Your data"). After a deletion, #/driver/deleted says what happened.

import { h, table } from "../dom";
import { driver, type ChargingSession } from "../driver";
import { refusal } from "../driverRefusals";
import { dateTime, kwh, language, money, t } from "../i18n";
import { say } from "./driverPassword";

/** Receipts are rendered in English and Russian; other languages get the English one. */
const RECEIPT_LOCALE = () => (language === "ru" ? "ru" : "en");

function chargeCell(session: ChargingSession): Node | string {
  const charge = session.charge;
  if (!charge) return session.state === "Active" ? t("driver.charging") : t("driver.notPriced");
  const status = charge.review === "voided" ? t("driver.voided") : charge.billed ? "" : t("driver.held");
  return h("span", { class: "total" }, money(charge.total_incl_vat, charge.currency), status ? ` (${status})` : "");
}

function receiptCell(session: ChargingSession): Node | string {
  if (!session.receipt || !session.charge) return "–";
  return h("a", {
    class: "receipt", href: `${session.receipt}?locale=${RECEIPT_LOCALE()}`,
    download: `receipt-${session.charge.cdr_id}.html`,
  }, t("driver.receipt"));
}

/** "Your charging sessions": one row per session, newest first. */
export function sessionsSection(): HTMLElement {
  const section = h("section", { id: "driver-sessions" }, h("h2", {}, t("driver.sessionsTitle")),
    h("p", {}, "…"));
  void driver.sessions().then((sessions) => {
    section.replaceChildren(h("h2", {}, t("driver.sessionsTitle")), sessions.length === 0
      ? h("p", { id: "no-sessions" }, t("driver.noSessions"))
      : table(
        [t("driver.sessionStarted"), t("driver.sessionStation"), t("driver.sessionEnergy"),
         t("driver.sessionTotal"), t("driver.receipt")],
        sessions.map((s) => [dateTime(s.started_at), `${s.station_id} / ${s.evse_id}`, kwh(s.energy_wh),
                             chargeCell(s), receiptCell(s)]),
        { id: "driver-sessions-table" }));
    for (const [index, s] of sessions.entries()) {
      section.querySelectorAll("tbody tr")[index]?.setAttribute("data-session", String(s.id));
    }
  }).catch((error) => section.replaceChildren(h("h2", {}, t("driver.sessionsTitle")),
    h("p", { class: "error" }, refusal(error))));
  return section;
}

function deleteForm(): HTMLFormElement {
  const password = h("input", { id: "delete-password", type: "password", autocomplete: "current-password", required: true });
  const sure = h("input", { id: "delete-sure", type: "checkbox", required: true });
  const message = h("p", { id: "delete-message", role: "alert" });
  return h("form", { class: "login danger", id: "delete-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    message.replaceChildren();
    try {
      await driver.deleteAccount(password.value);
      location.hash = "#/driver/deleted";
    } catch (error) {
      say(message, refusal(error), false);
    }
  } },
    h("h2", {}, t("driver.deleteTitle")),
    h("p", {}, t("driver.deleteExplained")),
    h("label", { for: "delete-password" }, t("driver.password")), password,
    h("label", {}, sure, " ", t("driver.deleteSure")),
    h("button", { type: "submit", id: "delete-account" }, t("driver.deleteAccount")),
    message,
  );
}

/** "Your data": the JSON download and deleting the account. */
export function dataSection(): HTMLElement {
  return h("div", { class: "login-pair", id: "driver-data" },
    h("section", { class: "login" },
      h("h2", {}, t("driver.dataTitle")),
      h("p", {}, t("driver.exportExplained")),
      h("a", { id: "export-data", href: "/api/v1/driver/export", download: "silkcharge-data.json" },
        t("driver.exportData"))),
    deleteForm());
}

/** #/driver/deleted: what deleting the account did. */
export function accountDeletedPage(root: HTMLElement): void {
  root.append(h("div", { id: "driver-deleted", class: "login" },
    h("h1", {}, t("driver.deletedTitle")),
    h("p", {}, t("driver.deletedText")),
    h("p", {}, h("a", { href: "#/find" }, t("nav.find")))));
}
