// The audit trail (GET /audit, audit:read): who did what, when, from where and with what answer,
// newest first, filtered as the API filters (who, action, a time range); an entry's row before,
// the request and the answer open on demand. Older entries page in by id.

import { api } from "../api";
import { h } from "../dom";
import { dateTime, t } from "../i18n";

interface Entry {
  id: number; at: string; tenant_id: number | null; actor: string; role: string; action: string;
  target: Record<string, string>; status: number; address: string | null;
  before: unknown; change: unknown; after: unknown;
}

const PAGE = 100;

/** "account:3:tech@example.org" → "tech@example.org"; "legacy-key:SILKCHARGE_API_KEY" → the key's name. */
function who(actor: string): string {
  const parts = actor.split(":");
  return parts.length >= 3 ? parts.slice(2).join(":") : parts.slice(1).join(":") || actor;
}

function shown(value: unknown): string {
  return value === null || value === undefined ? "–" : JSON.stringify(value, null, 1);
}

function details(entry: Entry): HTMLElement {
  return h("details", { class: "audit-details" }, h("summary", {}, t("audit.details")),
    h("dl", {},
      h("dt", {}, t("audit.before")), h("dd", {}, h("pre", { class: "before" }, shown(entry.before))),
      h("dt", {}, t("audit.change")), h("dd", {}, h("pre", { class: "change" }, shown(entry.change))),
      h("dt", {}, t("audit.after")), h("dd", {}, h("pre", { class: "after" }, shown(entry.after)))));
}

function row(entry: Entry): HTMLTableRowElement {
  const target = Object.entries(entry.target).map(([k, v]) => `${k}: ${v}`).join(", ") || "–";
  return h("tr", { "data-entry": entry.id, "data-action": entry.action },
    h("td", {}, dateTime(entry.at)),
    h("td", { class: "who", title: entry.actor }, who(entry.actor)),
    h("td", { class: "role" }, t(`role.${entry.role}`)),
    h("td", { class: "action" }, h("code", {}, entry.action)),
    h("td", { class: "target" }, target),
    h("td", { class: entry.status < 400 ? "status ok" : "status refused" }, String(entry.status)),
    h("td", {}, entry.address ?? "–"),
    h("td", {}, details(entry)));
}

/** A local date-time input's value as an aware UTC time for the API, or null. */
function utc(input: HTMLInputElement): string | null {
  return input.value ? new Date(input.value).toISOString() : null;
}

export function auditPage(root: HTMLElement): void {
  const actor = h("input", { id: "audit-actor", name: "actor", type: "search", maxlength: 300 });
  const action = h("input", { id: "audit-action", name: "action", type: "search", maxlength: 300,
    placeholder: "commands" });
  const since = h("input", { id: "audit-since", name: "since", type: "datetime-local" });
  const until = h("input", { id: "audit-until", name: "until", type: "datetime-local" });
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "audit-more", hidden: true }, t("audit.older"));
  const message = h("p", { id: "audit-message" });
  const heads = ["audit.when", "audit.who", "audit.role", "audit.action", "audit.target", "audit.status",
    "audit.address", ""];
  let oldest: number | null = null;

  const load = async (append: boolean) => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const [name, value] of [["actor", actor.value.trim()], ["action", action.value.trim()],
      ["since", utc(since)], ["until", utc(until)]] as [string, string | null][])
      if (value) query.set(name, value);
    if (append && oldest !== null) query.set("before", String(oldest));
    try {
      const entries = await api<Entry[]>(`/audit?${query}`);
      if (!append) body.replaceChildren();
      body.append(...entries.map(row));
      oldest = entries.length ? entries[entries.length - 1].id : oldest;
      more.hidden = entries.length < PAGE;
      message.textContent = body.children.length === 0 ? t("audit.none") : "";
    } catch {
      message.textContent = t("common.error");
    }
  };

  const filters = h("form", { class: "filters", id: "audit-filters", onsubmit: (e: Event) => {
    e.preventDefault();
    void load(false);
  } },
    h("label", {}, h("span", {}, t("audit.who")), actor),
    h("label", {}, h("span", {}, t("audit.action")), action),
    h("label", {}, h("span", {}, t("audit.from")), since),
    h("label", {}, h("span", {}, t("audit.to")), until),
    h("button", { type: "submit", id: "audit-filter" }, t("audit.filter")));
  more.addEventListener("click", () => void load(true));
  root.append(h("h1", {}, t("nav.audit")), h("p", { class: "hint" }, t("audit.hint")), filters, message,
    h("table", { id: "audit-table", class: "cards" }, h("thead", {}, h("tr", {}, ...heads.map((k) => h("th", {}, k ? t(k) : "")))), body),
    more);
  void load(false);
}
