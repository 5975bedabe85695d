// Utilisation and uptime per site (issue 19, item 7): small multiples, one card per site with a
// bar per UTC day for each, from GET /analytics/sites/daily (the daily roll-ups). Uptime counts
// each station from its registration, so a site that came up an hour ago reads its real uptime;
// utilisation bars share one scale across sites so cards compare at a glance.

import { api } from "../api";
import { h, svg } from "../dom";
import { currentLocale, number, t } from "../i18n";

interface Cell { sessions: number; energy_kwh: string; utilisation: number | null; uptime: number | null }
interface SiteRow { site: string; name: string | null; city: string | null; stations: number; connectors: number;
  days: (Cell | null)[] }
interface Answer { days: { day: string; observed_end: string }[]; sites: SiteRow[] }

const RANGES = [7, 14, 30];
const LOW_UPTIME = 0.95;  // the attention rule's threshold (planning/analytics.py AttentionRules)

function percent(value: number): string {
  return new Intl.NumberFormat(currentLocale(), { style: "percent", maximumFractionDigits: 1 }).format(value);
}

function mean(values: (number | null | undefined)[]): number | null {
  const known = values.filter((v): v is number => typeof v === "number");
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

/** A bar per day: height the value over `top`; a missing day is a gap with a dash. */
function bars(kind: "utilisation" | "uptime", title: string, days: Date[], values: (number | null)[], top: number,
              classOf: (v: number) => string): HTMLElement {
  const width = 280, height = 96, bottom = 14, head = 4, gap = days.length > 14 ? 1 : 3;
  const band = width / days.length;
  const label = new Intl.DateTimeFormat(currentLocale(), { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  const axis = new Intl.DateTimeFormat(currentLocale(), { day: "numeric", timeZone: "UTC" });  // fits under a bar in every language
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: kind });
  chart.append(svg("line", { class: "base", x1: 0, x2: width, y1: height - bottom, y2: height - bottom }));
  const every = Math.ceil(days.length / 7);
  days.forEach((day, i) => {
    const v = values[i];
    const x = i * band + gap / 2, w = Math.max(band - gap, 1);
    if (v === null) {
      chart.append(svg("text", { class: "axis", x: x + w / 2, y: height - bottom - 2, "text-anchor": "middle" }, "–"));
    } else {
      // a day wholly down still shows, as a stub: no bar would read as "no data"
      const least = v > 0 || kind === "uptime" ? 2 : 0;
      const barHeight = top > 0 ? Math.max((v / top) * (height - bottom - head), least) : 0;
      const bar = svg("rect", { class: `day-bar ${classOf(v)}`, x, y: height - bottom - barHeight, width: w,
        height: barHeight, "data-day": day.toISOString().slice(0, 10), "data-value": v });
      bar.append(svg("title", {}, `${label.format(day)}: ${percent(v)}`));
      chart.append(bar);
    }
    if (i % every === 0)
      chart.append(svg("text", { class: "axis", x: x + w / 2, y: height - 3, "text-anchor": "middle" }, axis.format(day)));
  });
  return h("div", { class: `site-metric ${kind}` }, h("span", { class: "metric-title" }, title),
    chart as unknown as HTMLElement);
}

function card(site: SiteRow, days: Date[], utilTop: number): HTMLElement {
  const util = site.days.map((c) => c?.utilisation ?? null);
  const up = site.days.map((c) => c?.uptime ?? null);
  const meanUtil = mean(util), meanUp = mean(up);
  const sessions = site.days.reduce((n, c) => n + (c?.sessions ?? 0), 0);
  return h("figure", { class: "chart site-card", "data-site": site.site },
    h("h2", {}, site.name ?? site.site, " ", h("span", { class: "hint" }, [site.site, site.city].filter(Boolean).join(" · "))),
    h("p", { class: "site-facts hint" }, t("sites.facts", { stations: number(site.stations, 0),
      connectors: number(site.connectors, 0), sessions: number(sessions, 0) })),
    h("div", { class: "site-metrics" },
      bars("utilisation", `${t("sites.utilisation")}: ${meanUtil === null ? "–" : percent(meanUtil)}`, days, util,
        utilTop, () => "util"),
      bars("uptime", `${t("sites.uptime")}: ${meanUp === null ? "–" : percent(meanUp)}`, days, up, 1,
        (v) => v >= LOW_UPTIME ? "good" : v >= 0.8 ? "low" : "bad")));
}

export function sitesPage(root: HTMLElement): () => void {
  const range = h("select", { id: "sites-range", name: "days" },
    ...RANGES.map((n) => h("option", { value: n, selected: n === 7 }, t("sites.lastDays", { n }))));
  const city = h("select", { id: "sites-city", name: "city" }, h("option", { value: "" }, t("sites.allCities")));
  const order = h("select", { id: "sites-order", name: "order" },
    h("option", { value: "name" }, t("sites.byName")),
    h("option", { value: "uptime" }, t("sites.byLowUptime")),
    h("option", { value: "utilisation" }, t("sites.byHighUtilisation")));
  const status = h("p", { id: "sites-status", class: "waiting" }, t("sites.loading"));
  const cards = h("section", { id: "site-cards", class: "charts site-cards" });
  let answer: Answer | null = null;
  let asked = 0;

  const draw = () => {
    if (!answer) return;
    const days = answer.days.map((d) => new Date(`${d.day}T00:00:00Z`));
    const sites = answer.sites.filter((s) => s.site !== "(none)" && (!city.value || s.city === city.value));
    const utilTop = Math.max(0.05, ...answer.sites.flatMap((s) => s.days.map((c) => c?.utilisation ?? 0)));
    const key = (s: SiteRow) => order.value === "uptime" ? mean(s.days.map((c) => c?.uptime)) ?? 2
      : order.value === "utilisation" ? -(mean(s.days.map((c) => c?.utilisation)) ?? -1) : 0;
    sites.sort((a, b) => key(a) - key(b) || (a.name ?? a.site).localeCompare(b.name ?? b.site, currentLocale()));
    status.className = "hint";
    status.textContent = sites.length ? t("sites.scale", { top: percent(utilTop) }) : t("sites.none");
    cards.replaceChildren(...sites.map((s) => card(s, days, utilTop)));
  };

  const load = async () => {
    const mine = ++asked;
    const n = Number(range.value);
    const today = new Date();
    const end = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1));
    const start = new Date(end.getTime() - n * 86_400_000);
    status.className = "waiting";
    status.textContent = t("sites.loading");
    try {
      const found = await api<Answer>(`/analytics/sites/daily?start=${start.toISOString().slice(0, 10)}`
        + `&end=${end.toISOString().slice(0, 10)}`);
      if (mine !== asked) return;
      answer = found;
      const cities = [...new Set(found.sites.map((s) => s.city).filter((c): c is string => !!c))]
        .sort((a, b) => a.localeCompare(b, currentLocale()));
      const chosen = city.value;
      city.replaceChildren(h("option", { value: "" }, t("sites.allCities")),
        ...cities.map((c) => h("option", { value: c, selected: c === chosen }, c)));
      draw();
    } catch {
      if (mine === asked) { status.className = "error"; status.textContent = t("common.error"); }
    }
  };

  range.addEventListener("change", () => void load());
  city.addEventListener("change", draw);
  order.addEventListener("change", draw);
  root.append(h("h1", {}, t("sites.title")),
    h("p", { class: "hint" }, t("sites.intro")),
    h("div", { class: "filters" },
      h("label", {}, t("sites.range"), range), h("label", {}, t("sites.city"), city), h("label", {}, t("sites.order"), order)),
    status, cards);
  void load();
  return () => { asked++; };
}
