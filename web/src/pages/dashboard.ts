// Today at a glance: energy delivered, sessions started, stations online, states.

import { api } from "../api";
import { h } from "../dom";
import { kwh, number, t } from "../i18n";
import { STATES, live, stateOf } from "../live";

export interface Transaction {
  id: number; station_id: string; evse_id: number; connector_id: number; id_token: string | null;
  state: string; started_at: string; stopped_at: string | null; energy_wh: string | null; stop_reason: string | null;
}

function today(iso: string): boolean {
  return new Date(iso).toDateString() === new Date().toDateString();
}

export function dashboardPage(root: HTMLElement): () => void {
  const tiles = h("div", { class: "tiles" });
  root.append(h("h1", {}, t("nav.dashboard")), tiles);
  let sessions: Transaction[] = [];

  const tile = (id: string, label: string, value: string) =>
    h("div", { class: "tile", id }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));

  const paint = () => {
    const stations = Object.values(live.stations);
    const online = stations.filter((s) => s.online).length;
    const started = sessions.filter((s) => today(s.started_at));
    const energy = started.reduce((sum, s) => sum + Number(s.energy_wh ?? 0), 0);
    const states = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const station of stations) states[stateOf(station)] += 1;
    tiles.replaceChildren(
      tile("energy-today", t("dash.energyToday"), kwh(energy)),
      tile("sessions-today", t("dash.sessionsToday"), number(started.length, 0)),
      tile("stations-online", t("dash.stationsOnline"), t("dash.ofTotal", { n: number(online, 0), total: number(stations.length, 0) })),
      ...STATES.map((s) => tile(`state-${s}`, t(`state.${s}`), number(states[s], 0))),
    );
  };

  let pending: number | undefined;
  const reload = () => api<Transaction[]>("/transactions?limit=1000").then((list) => { sessions = list; paint(); });
  void reload();
  paint();
  const stop = live.subscribe((event) => {
    paint();
    if (event?.event.startsWith("Transaction")) {
      clearTimeout(pending);
      pending = window.setTimeout(() => void reload(), 500);
    }
  });
  return () => { stop(); clearTimeout(pending); };
}
