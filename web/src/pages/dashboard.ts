// Today at a glance: energy delivered, sessions started, revenue by currency (from the CDRs),
// uptime, stations online, states.

import { api } from "../api";
import { h, svg } from "../dom";
import { currentLocale, kwh, money, number, t } from "../i18n";
import { STATES, live, stateOf } from "../live";
import { can, only } from "../permissions";

export interface Transaction {
  id: number; station_id: string; evse_id: number; connector_id: number; id_token: string | null;
  state: string; started_at: string; stopped_at: string | null; energy_wh: string | null; stop_reason: string | null;
}

function today(iso: string): boolean {
  return new Date(iso).toDateString() === new Date().toDateString();
}

interface Revenue { currency: string; cdrs: number; total_incl_vat: string }
interface Group { stations: number; sessions: number; energy_kwh: string; revenue: Revenue[]; uptime: number | null }

/** One day of the last week, summed over every operator. */
interface Day { day: Date; sessions: number; energyKwh: number; revenue: Map<string, string> }

/** A bar per day, labelled with the weekday and its value (the value as a person reads it). */
function barChart(id: string, title: string, days: Day[], value: (d: Day) => number,
                  label: (d: Day) => string): HTMLElement {
  const width = 360, height = 150, bottom = 18, top = 14, gap = 8;
  const most = Math.max(...days.map(value), 0);
  const band = width / days.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  const weekday = new Intl.DateTimeFormat(currentLocale(), { weekday: "short", day: "numeric" });
  days.forEach((d, i) => {
    const v = value(d);
    const barHeight = most > 0 ? (v / most) * (height - bottom - top) : 0;
    const x = i * band + gap / 2, y = height - bottom - barHeight;
    const bar = svg("rect", { class: "day-bar", x, y, width: band - gap, height: barHeight, "data-day": i });
    bar.append(svg("title", {}, `${weekday.format(d.day)}: ${label(d)}`));
    chart.append(bar,
      svg("text", { class: "amount", x: x + (band - gap) / 2, y: y - 3, "text-anchor": "middle" }, v > 0 ? label(d) : ""),
      svg("text", { class: "axis", x: x + (band - gap) / 2, y: height - 5, "text-anchor": "middle" }, weekday.format(d.day)));
  });
  return h("figure", { class: "chart", id }, h("h2", {}, title), chart as unknown as HTMLElement);
}

function compact(value: number): string {
  return new Intl.NumberFormat(currentLocale(), { notation: "compact", maximumFractionDigits: 1 }).format(value);
}

/** The last seven local days (today included), from the analytics summary of each day. */
async function lastWeek(): Promise<Day[]> {
  const days: Date[] = [];
  for (let back = 6; back >= 0; back--) {
    const day = new Date();
    day.setHours(0, 0, 0, 0);
    day.setDate(day.getDate() - back);
    days.push(day);
  }
  return Promise.all(days.map(async (day) => {
    const end = new Date(day);
    end.setDate(end.getDate() + 1);
    const range = `start=${encodeURIComponent(day.toISOString())}&end=${encodeURIComponent(end.toISOString())}`;
    const { groups } = await api<{ groups: Group[] }>(`/analytics/summary?${range}&group_by=operator`);
    const revenue = new Map<string, string>();
    for (const group of groups)
      for (const r of group.revenue) revenue.set(r.currency, addDecimal(revenue.get(r.currency) ?? "0", r.total_incl_vat));
    return {
      day, sessions: groups.reduce((n, g) => n + g.sessions, 0),
      energyKwh: groups.reduce((n, g) => n + Number(g.energy_kwh), 0), revenue,
    };
  }));
}

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
  const charts = h("section", { class: "charts", id: "week-charts" });
  root.append(h("h1", {}, t("nav.dashboard")), tiles, charts,
    ...only(["aggregates:read", "network:read"], h("p", { id: "to-sites" }, h("a", { href: "#/sites" }, t("dash.perSite")))));
  const drawCharts = (week: Day[]) => {
    const currencies = [...new Set(week.flatMap((d) => [...d.revenue.keys()]))].sort();
    charts.replaceChildren(
      barChart("chart-energy", `${t("dash.chartEnergy")} (${t("unit.kwh")})`, week, (d) => d.energyKwh, (d) => compact(d.energyKwh)),
      barChart("chart-sessions", t("dash.chartSessions"), week, (d) => d.sessions, (d) => number(d.sessions, 0)),
      ...currencies.map((currency) => barChart(`chart-revenue-${currency}`, t("dash.chartRevenue", { currency }), week,
        (d) => Number(d.revenue.get(currency) ?? 0), (d) => compact(Number(d.revenue.get(currency) ?? 0)))),
    );
  };
  if (can("aggregates:read")) void lastWeek().then(drawCharts).catch(() => charts.replaceChildren(h("p", { class: "error" }, t("common.error"))));
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
      ...only("money:read", h("div", { class: "tile", id: "revenue-today" },
        h("span", { class: "value" }, ...(summary === null ? ["…"] : summary.revenue.size === 0 ? ["–"]
          : [...summary.revenue].sort().map(([currency, amount]) => h("span", { class: "money", "data-currency": currency }, money(amount, currency))))),
        h("span", { class: "label" }, t("dash.revenueToday")))),
      ...only("aggregates:read", tile("uptime-today", t("dash.uptimeToday"), summary?.uptime == null ? "–"
        : new Intl.NumberFormat(currentLocale(), { style: "percent", maximumFractionDigits: 1 }).format(summary.uptime))),
      tile("stations-online", t("dash.stationsOnline"), t("dash.ofTotal", { n: number(online, 0), total: number(stations.filter((s) => !s.planned && !s.moved_to).length, 0) })),
      // a move to another CSMS is rare: its tile shows only while a station is marked moved
      ...STATES.filter((s) => s !== "moved" || states[s] > 0)
        .map((s) => tile(`state-${s}`, t(`state.${s}`), number(states[s], 0))),
    );
  };

  let pending: number | undefined;
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const range = `start=${encodeURIComponent(midnight.toISOString())}&end=${encodeURIComponent(new Date(midnight.getTime() + 86_400_000).toISOString())}`;
  const reload = () => Promise.all([
    api<Transaction[]>("/transactions?limit=1000").then((list) => { sessions = list; paint(); }),
    can("aggregates:read") ? api<{ groups: Group[] }>(`/analytics/summary?${range}&group_by=operator`)
      .then((result) => { summary = network(result.groups); paint(); }) : null,
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
