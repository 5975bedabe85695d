// Today at a glance: energy delivered, sessions started, revenue by currency (from the CDRs),
// uptime, stations online, states.

import { api } from "../api";
import { h } from "../dom";
import { currentLocale, kwh, money, number, t } from "../i18n";
import { STATES, live, stateOf } from "../live";

export interface Transaction {
  id: number; station_id: string; evse_id: number; connector_id: number; id_token: string | null;
  state: string; started_at: string; stopped_at: string | null; energy_wh: string | null; stop_reason: string | null;
}

function today(iso: string): boolean {
  return new Date(iso).toDateString() === new Date().toDateString();
}

interface Revenue { currency: string; cdrs: number; total_incl_vat: string }
interface Group { stations: number; revenue: Revenue[]; uptime: number | null }

/** Exact sum of decimal strings ("1200.50" + "99.5"), never through a float. */
export function addDecimal(a: string, b: string): string {
  const places = Math.max(...[a, b].map((x) => (x.split(".")[1] ?? "").length));
  const scaled = (x: string) => {
    const [whole, fraction = ""] = x.split(".");
    return BigInt(whole + fraction.padEnd(places, "0"));
  };
  const sum = scaled(a) + scaled(b);
  const sign = sum < 0n ? "-" : "";
  const digits = (sum < 0n ? -sum : sum).toString().padStart(places + 1, "0");
  return places ? `${sign}${digits.slice(0, -places)}.${digits.slice(-places)}` : `${sign}${digits}`;
}

/** Revenue per currency and station-weighted uptime over every operator's group. */
function network(groups: Group[]): { revenue: Map<string, string>; uptime: number | null } {
  const revenue = new Map<string, string>();
  let weighted = 0, stations = 0;
  for (const group of groups) {
    for (const r of group.revenue) revenue.set(r.currency, addDecimal(revenue.get(r.currency) ?? "0", r.total_incl_vat));
    if (group.uptime !== null) { weighted += group.uptime * group.stations; stations += group.stations; }
  }
  return { revenue, uptime: stations ? weighted / stations : null };
}

export function dashboardPage(root: HTMLElement): () => void {
  const tiles = h("div", { class: "tiles" });
  root.append(h("h1", {}, t("nav.dashboard")), tiles);
  let sessions: Transaction[] = [];
  let summary: { revenue: Map<string, string>; uptime: number | null } | null = null;

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
      h("div", { class: "tile", id: "revenue-today" },
        h("span", { class: "value" }, ...(summary === null ? ["…"] : summary.revenue.size === 0 ? ["–"]
          : [...summary.revenue].sort().map(([currency, amount]) => h("span", { class: "money", "data-currency": currency }, money(amount, currency))))),
        h("span", { class: "label" }, t("dash.revenueToday"))),
      tile("uptime-today", t("dash.uptimeToday"), summary?.uptime == null ? "–"
        : new Intl.NumberFormat(currentLocale(), { style: "percent", maximumFractionDigits: 1 }).format(summary.uptime)),
      tile("stations-online", t("dash.stationsOnline"), t("dash.ofTotal", { n: number(online, 0), total: number(stations.length, 0) })),
      ...STATES.map((s) => tile(`state-${s}`, t(`state.${s}`), number(states[s], 0))),
    );
  };

  let pending: number | undefined;
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const range = `start=${encodeURIComponent(midnight.toISOString())}&end=${encodeURIComponent(new Date(midnight.getTime() + 86_400_000).toISOString())}`;
  const reload = () => Promise.all([
    api<Transaction[]>("/transactions?limit=1000").then((list) => { sessions = list; paint(); }),
    api<{ groups: Group[] }>(`/analytics/summary?${range}&group_by=operator`)
      .then((result) => { summary = network(result.groups); paint(); }),
  ]);
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
