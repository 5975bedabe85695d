// Faulted and silent stations, each with what its error code means and what to check first,
// in the console's language where the table has it, else visibly in English; and the tariffs a
// regulated price cap suspends at a site (its reason is the server's, in English).

import { api } from "../api";
import { h } from "../dom";
import { LANGUAGES, dateTime, language, money, t } from "../i18n";
import { live } from "../live";
import { can } from "../permissions";

interface Text { meaning: string; check: string }
interface Explanation extends Text { source: string; severity: string; i18n?: Record<string, Text> }

/** The explanation in the current language, and whether it had to fall back to English. */
function translated(entry: Explanation): Text & { english: boolean } {
  const own = language === "en" ? entry : entry.i18n?.[language];
  return own ? { ...own, english: false } : { meaning: entry.meaning, check: entry.check, english: true };
}
let table: Promise<Record<string, Explanation>> | null = null;

interface Alert { station: string; connector: string; code: string; since: string | null }

/** A station whose timestamps lie outside the window around the server's clock. */
interface ClockAlert { station_id: string; last_at: string; station_time: string; count: number }

function clockAlert(alert: ClockAlert): HTMLElement {
  return h("article", { class: "alert warning clock", "data-station": alert.station_id },
    h("h2", {}, h("a", { href: `#/stations/${encodeURIComponent(alert.station_id)}` }, alert.station_id),
      ` · ${t("alerts.clockTitle")}`),
    h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(alert.last_at)}`),
    h("p", { class: "meaning" }, h("strong", {}, `${t("alerts.meaning")}: `),
      t("alerts.clockMeaning", { time: alert.station_time, n: alert.count })),
    h("p", { class: "check" }, h("strong", {}, `${t("alerts.check")}: `), t("alerts.clockCheck")));
}

/** A threshold a station's monitor saw crossed and not yet cleared (api/device.py). */
interface MonitorAlert {
  station_id: string; component: string; evse_id: number | null; connector_id: number | null; variable: string;
  actual_value: string; occurred_at: string; severity: number | null; severity_name: string | null;
  variable_monitoring_id: number;
}
let monitorAlerts: MonitorAlert[] = [];

function monitorArticle(a: MonitorAlert): HTMLElement {
  const place = a.evse_id === null ? "" : `@${a.evse_id}${a.connector_id === null ? "" : `/${a.connector_id}`}`;
  const severity = a.severity_name ? t(`device.severity${a.severity_name}`) : t("device.monitorUnknown");
  return h("article", { class: `alert monitor ${a.severity !== null && a.severity > 3 ? "warning" : ""}`,
    "data-station": a.station_id, "data-monitor": a.variable_monitoring_id },
  h("h2", {}, h("a", { href: `#/stations/${encodeURIComponent(a.station_id)}` }, a.station_id),
    " · ", h("code", {}, `${a.component}${place}.${a.variable}`)),
  h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(a.occurred_at)}`),
  h("p", { class: "meaning" }, t("alerts.monitorReading", {
    id: a.variable_monitoring_id, value: a.actual_value, severity })));
}

function alerts(): Alert[] {
  const found: Alert[] = [];
  for (const [id, s] of Object.entries(live.stations).sort()) {
    if (!s.online && (s.planned || s.moved_to)) continue;  // not commissioned yet, or moved away: no connection expected
    if (!s.online) {
      found.push({ station: id, connector: "–", code: s.last_seen_at ? "Offline" : "NeverConnected", since: s.last_seen_at });
      continue;
    }
    if (s.error_code && s.error_code !== "NoError")
      found.push({ station: id, connector: "0", code: s.error_code, since: null });
    for (const c of s.connectors) {
      if (c.status === "Faulted" || (c.error_code && c.error_code !== "NoError"))
        found.push({ station: id, connector: `${c.evse_id}/${c.connector_id}`, code: c.error_code ?? "OtherError", since: c.status_at });
    }
  }
  // One alert per station and error: three connectors Faulted with the same code are one
  // problem to look at, listed with every connector it touches and since the earliest.
  const grouped = new Map<string, Alert>();
  for (const a of found) {
    const key = `${a.station}\u0000${a.code}`;
    const seen = grouped.get(key);
    if (!seen) { grouped.set(key, { ...a }); continue; }
    seen.connector = `${seen.connector}, ${a.connector}`;
    if (a.since && (!seen.since || a.since < seen.since)) seen.since = a.since;
  }
  const rank = (a: Alert) => (a.code === "NeverConnected" ? 2 : a.code === "Offline" ? 1 : 0);
  return [...grouped.values()].sort((a, b) => rank(a) - rank(b));
}

/** A tariff that breaks a regulated price cap at a site (GET /tariff-suspensions). */
interface Suspension {
  id: number; tariff: string; operator: string; site: string; site_name: string; cap: string;
  cap_per_kwh_incl_vat: string; currency: string; reason: string; effective_from: string; since: string;
}

function suspensionCard(s: Suspension): HTMLElement {
  return h("article", { class: "alert warning", "data-suspension": s.tariff, "data-site": s.site },
    h("h2", {}, t("alerts.capsTariff", { tariff: s.tariff, site: s.site_name }), " · ", h("code", {}, s.operator)),
    h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(s.since)} · `,
      t("alerts.capsFrom", { date: s.effective_from })),
    h("p", { class: "cap" }, t("alerts.capsRule", { cap: s.cap, price: money(s.cap_per_kwh_incl_vat, s.currency) })),
    h("p", { class: "meaning" }, h("strong", {}, `${t("alerts.meaning")}: `),
      h("span", { lang: "en", class: language === "en" ? undefined : "in-english" }, s.reason)),
    h("p", { class: "check" }, h("strong", {}, `${t("alerts.check")}: `), t("alerts.capsPays")),
  );
}

async function paintSuspensions(section: HTMLElement): Promise<void> {
  const open = await api<Suspension[]>("/tariff-suspensions");
  section.replaceChildren(h("h2", {}, t("alerts.capsTitle")),
    ...(open.length === 0 ? [h("p", { id: "caps-none" }, t("alerts.capsNone"))] : open.map(suspensionCard)));
}

export function alertsPage(root: HTMLElement): () => void {
  const list = h("div", { id: "alerts" });
  const untranslated = h("p", { id: "untranslated", class: "hint" });
  const suspended = h("section", { id: "cap-suspensions" });
  root.append(h("h1", {}, t("nav.alerts")), untranslated, suspended, list);
  if (can("caps:read")) void paintSuspensions(suspended);
  table ??= api<{ codes: Record<string, Explanation> }>("/console/error-codes").then((r) => r.codes);
  // Clock alerts come from the store, not the live feed: read on arrival and once a minute.
  let clocks: ClockAlert[] = [];
  const readClocks = async () => {
    if (!can("sessions:read")) return;
    clocks = await api<ClockAlert[]>("/plausibility/clock-alerts").catch(() => clocks);
    void paint();
  };

  const paint = async () => {
    const codes = await table!;
    const missing = Object.keys(codes).filter((code) => translated(codes[code]).english).sort();
    untranslated.textContent = language === "en" || missing.length === 0 ? ""
      : t("alerts.untranslated", { language: LANGUAGES[language] ? t(`language.${language}`) : language, codes: missing.join(", ") });
    const current = alerts();
    const none = current.length + clocks.length + monitorAlerts.length === 0;
    list.replaceChildren(...(none ? [h("p", {}, t("alerts.none"))] : [
      ...clocks.map(clockAlert), ...monitorAlerts.map(monitorArticle), ...current.map((a) => {
      const known = codes[a.code];
      const explanation = translated(known ?? codes.OtherError);
      const lang = explanation.english ? "en" : undefined;
      return h("article", { class: `alert ${(known ?? codes.OtherError).severity}`, "data-station": a.station,
        "data-code": a.code },
        h("h2", {}, h("a", { href: `#/stations/${encodeURIComponent(a.station)}` }, a.station),
          ` · ${t("col.connector")} ${a.connector} · `, h("code", {}, a.code)),
        a.since ? h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(a.since)}`) : null,
        h("p", { class: "meaning" }, h("strong", {}, `${t("alerts.meaning")}: `),
          known ? h("span", { lang, class: lang ? "in-english" : undefined }, explanation.meaning) : t("alerts.unknown")),
        h("p", { class: "check" }, h("strong", {}, `${t("alerts.check")}: `),
          h("span", { lang, class: lang ? "in-english" : undefined }, explanation.check)),
      );
    })]));
  };
  const readMonitorAlerts = async () => can("maintenance") && api<MonitorAlert[]>("/monitor-alerts")
    .then((found) => { monitorAlerts = found; }, () => { monitorAlerts = []; });
  void readClocks();
  void readMonitorAlerts().then(paint);
  const every = window.setInterval(() => void readClocks(), 60_000);
  const stop = live.subscribe((event) => {
    if (event?.event === "DeviceEventReported") void readMonitorAlerts().then(paint);
    else void paint();
  });
  return () => { stop(); clearInterval(every); };
}
