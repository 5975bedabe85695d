// Charging sessions, newest first, with their energy, what was flagged in what their charger
// reported, and a way to end a session its charger never stopped.

import { api } from "../api";
import { h, table } from "../dom";
import { problemText } from "../problems";
import { dateTime, kwh, t } from "../i18n";
import { live } from "../live";
import type { Transaction } from "./dashboard";
import { can } from "../permissions";

interface Flag { rule: string; reason: string }
type Session = Transaction & { flags: Flag[]; end_reason: string | null };

function flagged(s: Session): HTMLElement | string {
  if (s.flags.length === 0) return "";
  return h("span", {
    class: "flagged", title: s.flags.map((f) => f.reason).join("\n"), "data-rules": s.flags.map((f) => f.rule).join(" "),
  }, `⚠ ${t("sessions.flagged", { n: s.flags.length })}`);
}

/** The "end" control of an active session: a reason, then the API ends it. */
function ending(s: Session, done: () => void): HTMLElement {
  const cell = h("div", { class: "end-session" });
  const open = () => {
    const reason = h("input", { type: "text", name: "reason", maxlength: 500, required: true,
      placeholder: t("sessions.endReason") });
    const message = h("span", { class: "error", role: "alert" });
    const form = h("form", { class: "end-form", "data-transaction": s.id, onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        const body = JSON.stringify({ reason: reason.value.trim() });
        await api(`/transactions/${s.id}/end`, { method: "POST", body });
        done();
      } catch (error) {
        message.textContent = problemText(error);
      }
    } }, reason, h("button", { type: "submit" }, t("sessions.endConfirm")), message);
    cell.replaceChildren(form);
    reason.focus();
  };
  cell.append(h("button", { class: "end", "data-transaction": s.id, title: t("sessions.endHint"), onclick: open },
    t("sessions.end")));
  return cell;
}

export function sessionsPage(root: HTMLElement): () => void {
  const holder = h("div", {});
  root.append(h("h1", {}, t("nav.sessions")), holder);
  const load = async () => {
    const sessions = await api<Session[]>("/transactions?limit=200");
    holder.replaceChildren(sessions.length === 0 ? h("p", {}, t("common.empty")) : table(
      ["#", t("col.station"), t("col.connector"), t("col.token"), t("col.started"), t("col.stopped"), t("col.energy"),
        t("col.state"), t("sessions.checks"), ""],
      sessions.map((s) => [
        s.id,
        h("a", { href: `#/stations/${encodeURIComponent(s.station_id)}` }, s.station_id),
        `${s.evse_id}/${s.connector_id}`,
        s.id_token ?? "–",
        dateTime(s.started_at),
        dateTime(s.stopped_at),
        kwh(s.energy_wh),
        s.state === "Active" ? t("sessions.active")
          : s.end_reason ? h("span", { title: s.end_reason }, t("sessions.endedByOperator")) : t("sessions.ended"),
        flagged(s),
        s.state === "Active" && can("commands") ? ending(s, () => void load()) : "",
      ]),
      { id: "sessions" },
    ));
  };
  void load();
  let pending: number | undefined;
  const stop = live.subscribe((event) => {
    if (event?.event.startsWith("Transaction") && !holder.querySelector(".end-form")) {
      clearTimeout(pending);
      pending = window.setTimeout(() => void load(), 500);
    }
  });
  return () => { stop(); clearTimeout(pending); };
}
