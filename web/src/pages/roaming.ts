// Roaming (roaming:read): the OCPI partners with their handshake state, parties, last push and
// pull and last error, a pull on demand (roaming:write), and a month's settlement with each
// partner both ways: their drivers at our chargers (they owe us), ours at theirs (we owe them,
// and what our drivers paid us for it), per currency, never netted across currencies.

import { api } from "../api";
import { h } from "../dom";
import { dateTime, money, number, t } from "../i18n";
import { problemText } from "../problems";
import { can } from "../permissions";

interface Party { role?: string; country_code?: string; party_id?: string }
interface Partner {
  id: number; name: string; state: string; version: string | null; roles: Party[];
  last_push_at: string | null; last_pull_at: string | null; last_error: string | null;
}
interface PullReport { locations: number; tariffs: number; skipped: number; problems: string[]; error: string | null }
interface Amount { currency: string; excl_vat: string; incl_vat: string }
interface Amounts { cdrs: number; energy_kwh: string; totals: Amount[] }
interface Settlement {
  partner_id: number; partner: string; state: string;
  their_drivers_at_our_chargers: Amounts; their_cdrs_held_for_review: number;
  our_drivers_at_their_chargers: Amounts; charged_to_our_drivers: Amounts;
  our_cdrs_waiting_for_a_rate: number; conflicting_cdrs: number;
}

const parties = (p: Partner) => p.roles.map((r) => `${r.country_code}*${r.party_id} ${r.role ?? ""}`.trim()).join(", ");
const totals = (a: Amounts) => a.totals.length === 0 ? "–"
  : a.totals.map((x) => money(x.incl_vat, x.currency)).join(" + ");

function amountsCell(a: Amounts, extra: string | null = null): HTMLElement {
  return h("td", {}, h("span", { class: "total" }, totals(a)), h("br", {}),
    h("span", { class: "hint" }, t("roaming.cdrsKwh", { n: number(a.cdrs, 0), kwh: number(Number(a.energy_kwh), 1) })),
    extra ? h("span", { class: "hint warn" }, h("br", {}), extra) : null);
}

export function roamingPage(root: HTMLElement): void {
  const partnersBody = h("tbody", {});
  const message = h("p", { id: "roaming-message", role: "status" });
  const monthInput = h("input", { id: "settlement-month", type: "month",
    value: new Date().toISOString().slice(0, 7) });
  const settlementBody = h("tbody", {});
  const settlementNote = h("p", { class: "hint", id: "settlement-note" });

  const pull = async (partner: Partner) => {
    message.className = "waiting";
    message.textContent = t("roaming.pulling", { partner: partner.name });
    try {
      const got = await api<PullReport>(`/roaming/partners/${partner.id}/pull`, { method: "POST" });
      message.className = got.error ? "error" : "ok";
      message.textContent = got.error ? t("roaming.pullStopped", { error: got.error })
        : t("roaming.pulled", { locations: number(got.locations, 0), tariffs: number(got.tariffs, 0),
          skipped: number(got.skipped, 0) });
    } catch (error) {
      message.className = "error";
      message.textContent = problemText(error);
    }
    void loadPartners();
  };

  const loadPartners = async () => {
    const partners = await api<Partner[]>("/roaming/partners");
    partnersBody.replaceChildren(...(partners.length === 0
      ? [h("tr", {}, h("td", { colspan: 7 }, t("roaming.noPartners")))]
      : partners.map((p) => h("tr", { "data-partner": p.id, class: p.last_error ? "has-error" : "" },
        h("td", {}, h("strong", {}, p.name), h("br", {}), h("span", { class: "hint" }, parties(p))),
        h("td", { class: `state ${p.state}` }, t(`roaming.state.${p.state}`), p.version ? ` (OCPI ${p.version})` : ""),
        h("td", { class: "pushed" }, p.last_push_at ? dateTime(p.last_push_at) : "–"),
        h("td", { class: "pulled" }, p.last_pull_at ? dateTime(p.last_pull_at) : "–"),
        h("td", { class: "last-error" }, p.last_error ?? "–"),
        h("td", {}, can("roaming:write") && p.state === "registered"
          ? h("button", { class: "pull", onclick: () => void pull(p) }, t("roaming.pull")) : null)))));
  };

  const loadSettlement = async () => {
    settlementNote.textContent = "";
    try {
      const months = await api<Settlement[]>(`/roaming/settlement?month=${encodeURIComponent(monthInput.value)}`);
      settlementBody.replaceChildren(...(months.length === 0
        ? [h("tr", {}, h("td", { colspan: 4 }, t("roaming.noSettlement")))]
        : months.map((m) => h("tr", { "data-partner": m.partner_id },
          h("td", {}, m.partner),
          amountsCell(m.their_drivers_at_our_chargers, m.their_cdrs_held_for_review
            ? t("roaming.heldForReview", { n: number(m.their_cdrs_held_for_review, 0) }) : null),
          amountsCell(m.our_drivers_at_their_chargers, m.conflicting_cdrs
            ? t("roaming.conflicts", { n: number(m.conflicting_cdrs, 0) }) : null),
          amountsCell(m.charged_to_our_drivers, m.our_cdrs_waiting_for_a_rate
            ? t("roaming.waitingForRate", { n: number(m.our_cdrs_waiting_for_a_rate, 0) }) : null)))));
    } catch (error) {
      settlementNote.textContent = problemText(error);
    }
  };
  monthInput.addEventListener("change", () => void loadSettlement());

  root.append(
    h("h1", {}, t("roaming.title")),
    h("p", { class: "hint" }, t("roaming.intro")),
    message,
    h("h2", {}, t("roaming.partners")),
    h("table", { class: "cards", id: "roaming-partners" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.handshake", "roaming.lastPush", "roaming.lastPull",
        "roaming.lastError", ""].map((key) => h("th", {}, key ? t(key) : "")))),
      partnersBody),
    h("h2", {}, t("roaming.settlement")),
    h("label", {}, `${t("roaming.month")} `, monthInput),
    h("table", { class: "cards", id: "roaming-settlement" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.theyOwe", "roaming.weOwe", "roaming.driversPaid"]
        .map((key) => h("th", {}, t(key))))),
      settlementBody),
    settlementNote,
  );
  void loadPartners().catch((error) => { message.className = "error"; message.textContent = problemText(error); });
  void loadSettlement();
}
