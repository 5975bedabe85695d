// Charging sessions, newest first, with their energy.

import { api } from "../api";
import { h, table } from "../dom";
import { dateTime, kwh, t } from "../i18n";
import { live } from "../live";
import type { Transaction } from "./dashboard";

export function sessionsPage(root: HTMLElement): () => void {
  const holder = h("div", {});
  root.append(h("h1", {}, t("nav.sessions")), holder);
  const load = async () => {
    const sessions = await api<Transaction[]>("/transactions?limit=200");
    holder.replaceChildren(sessions.length === 0 ? h("p", {}, t("common.empty")) : table(
      ["#", t("col.station"), t("col.connector"), t("col.token"), t("col.started"), t("col.stopped"), t("col.energy"), t("col.state")],
      sessions.map((s) => [
        s.id,
        h("a", { href: `#/stations/${encodeURIComponent(s.station_id)}` }, s.station_id),
        `${s.evse_id}/${s.connector_id}`,
        s.id_token ?? "–",
        dateTime(s.started_at),
        dateTime(s.stopped_at),
        kwh(s.energy_wh),
        t(s.state === "Active" ? "sessions.active" : "sessions.ended"),
      ]),
      { id: "sessions" },
    ));
  };
  void load();
  let pending: number | undefined;
  const stop = live.subscribe((event) => {
    if (event?.event.startsWith("Transaction")) {
      clearTimeout(pending);
      pending = window.setTimeout(() => void load(), 500);
    }
  });
  return () => { stop(); clearTimeout(pending); };
}
