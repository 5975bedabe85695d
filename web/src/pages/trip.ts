// Plan a trip: where from and to, which car, which day; the charging stops on the map and in a
// table, each leg's elevation and charge in a chart, and why a trip cannot be planned, in the
// console's language (the API sends message codes with parameters: see trips/explain.py;
// names and notes of crossings and passes are road texts: see roadTexts.ts).

import { ApiError, api } from "../api";
import { h, svg } from "../dom";
import L from "leaflet";
import { GeoMap, cityNames, dotIcon, placeName, type Bounds } from "../geomap";
import { currentLocale, money, number, t, time } from "../i18n";
import { loadRoadTexts, word } from "../roadTexts";
import type { VehicleSummary } from "./vehicles";

interface Stop {
  site_code: string; site_name: string; operator: string; standard: string; power_kw: number;
  arrival_soc: number; departure_soc: number; energy_kwh: number; charge_min: number;
  cost: { amount: string; currency: string } | null; arrive_at: string | null;
  /** At a roaming partner's site: the partner's name. */
  roaming?: string | null;
}
interface ProfilePoint { km: number; elevation_m: number | null; soc: number }
interface Leg {
  start: string; end: string; km: number; drive_min: number; border_wait_min: number; arrival_soc: number;
  stop: Stop | null; energy_kwh: number; climb_m: number; lowest_soc: number; temp_c: number | null;
  profile: ProfilePoint[];
}
/** A message code with its parameters, as the planner sends it. */
export interface Explained { code: string; params: Record<string, unknown>; options: string[] }
interface Plan {
  vehicle: { id: string; name: string }; origin: string; destination: string; legs: Leg[];
  notes: Explained[];
  totals: { km: number; total_min: number; charge_min: number; stops: number; arrival_soc: number;
    cost: { amount: string; currency: string }[] | null };
}
interface MapPoint { kind: "place" | "stop"; name: string; code?: string; lat: number; lon: number }

let vehicles: Promise<VehicleSummary[]> | null = null;
let places: Promise<{ name: string }[]> | null = null;

export function hoursMinutes(minutes: number): string {
  const whole = Math.round(minutes);
  return t("trip.duration", { h: number(Math.floor(whole / 60), 0), m: number(whole % 60, 0) });
}

/** The planner's places (English name → name in the console's language), for messages. */
let placeWords = new Map<string, string>();
/** Message parameters that name a place of the road network. */
const PLACE_PARAMS = new Set(["from", "to"]);

/** Fetch what messages need to be worded in the console's language: road texts, place names. */
async function loadWords(): Promise<void> {
  const [, places] = await Promise.all([loadRoadTexts().catch(() => undefined), cityNames().catch(() => null)]);
  if (places) placeWords = new Map(places.features.map((c) => [c.properties.id, c.properties.name]));
}

/** A country's name in the console's language, from its ISO 3166 code (the code itself where
 * the browser has no name for it). */
function countryName(code: string): string {
  try {
    return new Intl.DisplayNames([currentLocale()], { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** A planner message in the console's language, with the options that would help. Road texts
 * among its parameters are worded with the texts `loadWords()` fetched, and so are places. */
export function explain(message: Explained): string {
  const values: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(message.params)) {
    if (PLACE_PARAMS.has(key) && typeof value === "string") values[key] = placeWords.get(value) ?? value;
    else if (key.endsWith("_country") && typeof value === "string") values[key] = countryName(value);
    else values[key] = word(value);
  }
  let text = t(`trip.why.${message.code}`, values);
  if (message.options.length) {
    text += " " + t("trip.options", { options: message.options.map((o) => t(`trip.option.${o}`)).join("; ") });
  }
  return text;
}

function bounds(points: [number, number][]): Bounds {
  const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
  return { south: Math.min(...lats), north: Math.max(...lats), west: Math.min(...lons), east: Math.max(...lons) };
}

/** Elevation (filled) and charge (line) against km from the start, one chart for the trip. */
function profileChart(legs: Leg[]): SVGElement {
  const width = 900, height = 220, pad = 36;
  const points: { km: number; elev: number | null; soc: number }[] = [];
  let offset = 0;
  for (const leg of legs) {
    for (const p of leg.profile) points.push({ km: offset + p.km, elev: p.elevation_m, soc: p.soc });
    offset += leg.km;
  }
  const total = Math.max(offset, 1);
  const heights = points.flatMap((p) => (p.elev === null ? [] : [p.elev]));
  const top = Math.max(1000, ...heights);
  const x = (km: number) => pad + (km / total) * (width - 2 * pad);
  const yElev = (m: number) => height - pad - (m / top) * (height - 2 * pad);
  const ySoc = (soc: number) => height - pad - (soc / 100) * (height - 2 * pad);
  const chart = svg("svg", { id: "trip-profile", viewBox: `0 0 ${width} ${height}`, role: "img", class: "profile" });
  chart.append(svg("title", {}, t("trip.profile")));
  // elevation: one filled area per stretch with known heights
  let run: { km: number; elev: number }[] = [];
  const flush = () => {
    if (run.length > 1) {
      const d = `M${x(run[0].km)},${yElev(0)} ` + run.map((p) => `L${x(p.km).toFixed(1)},${yElev(p.elev).toFixed(1)}`).join(" ")
        + ` L${x(run[run.length - 1].km)},${yElev(0)} Z`;
      chart.append(svg("path", { d, class: "elevation" }));
    }
    run = [];
  };
  for (const p of points) {
    if (p.elev === null) flush(); else run.push({ km: p.km, elev: p.elev });
  }
  flush();
  chart.append(svg("path", { class: "soc", d: points.map((p, i) => `${i ? "L" : "M"}${x(p.km).toFixed(1)},${ySoc(p.soc).toFixed(1)}`).join(" ") }));
  let at = 0;
  for (const leg of legs) {
    at += leg.km;
    if (leg.stop) chart.append(svg("circle", { cx: x(at), cy: ySoc(leg.arrival_soc), r: 4, class: "stop" }));
  }
  const label = (text: string, tx: number, ty: number, cls: string) => {
    chart.append(svg("text", { x: tx, y: ty, class: cls }, text));
  };
  label(`${number(top, 0)} m`, 2, pad - 4, "axis");
  label("100 %", width - pad + 2, pad - 4, "axis");
  label(`${number(total, 0)} ${t("unit.km")}`, width - pad - 40, height - 8, "axis");
  label(`${t("trip.elevation")} · ${t("trip.soc")}`, pad, 14, "axis");
  return chart;
}

export function tripPage(root: HTMLElement): void {
  vehicles ??= api<VehicleSummary[]>("/vehicles?limit=2000");
  places ??= api<{ name: string }[]>("/console/places");
  const field = (label: string, control: HTMLElement) => h("label", {}, h("span", {}, label), control);
  const origin = h("input", { id: "origin", list: "places", value: "Almaty", required: true });
  const destination = h("input", { id: "destination", list: "places", value: "Bishkek", required: true });
  const search = h("input", { id: "vehicle-search", type: "search", placeholder: t("veh.searchHint") });
  const vehicle = h("select", { id: "vehicle", required: true });
  const count = h("span", { id: "vehicle-count", class: "hint" });
  const soc = h("input", { id: "start-soc", type: "number", min: 5, max: 100, value: 90 });
  const day = h("input", { id: "trip-date", type: "date", value: new Date().toISOString().slice(0, 10) });
  const datalist = h("datalist", { id: "places" });
  const status = h("p", { id: "trip-status", role: "status" });
  const summary = h("div", { id: "trip-summary" });
  const chart = h("figure", { id: "trip-chart" });
  const legs = h("div", { id: "trip-legs" });
  const map = new GeoMap("trip-map");
  const form = h("form", { id: "trip-form", class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void plan(); } },
    field(t("trip.origin"), origin), field(t("trip.destination"), destination),
    field(t("trip.searchVehicle"), search), field(t("trip.vehicle"), vehicle), count,
    field(t("trip.startSoc"), soc), field(t("trip.date"), day),
    h("button", { type: "submit", id: "plan" }, t("trip.plan")));
  root.append(h("h1", {}, t("trip.title")), form, datalist, status, summary, map.element, chart, legs);
  map.fit({ south: 36, north: 52, west: 55, east: 82 });

  void places.then((list) => datalist.replaceChildren(...list.map((p) => h("option", { value: p.name }))));
  let all: VehicleSummary[] = [];
  const fill = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const chosen = vehicle.value || "byd-dolphin-extended-range-2025-cn";
    const shown = all.filter((v) => words.every((w) => `${v.label ?? v.name} ${v.id}`.toLowerCase().includes(w)) || v.id === chosen);
    vehicle.replaceChildren(...shown.map((v) => h("option", { value: v.id, selected: v.id === chosen },
      `${v.label ?? v.name}${v.curve_generic ? ` · ${t("trip.genericCurve")}` : ""}`)));
    count.textContent = t("trip.vehicleCount", { n: number(shown.length, 0) });
  };
  search.addEventListener("input", fill);
  void vehicles.then((list) => { all = list; fill(); });

  /** Counts plans asked for: an answer that arrives after a newer plan began is not drawn. */
  let attempt = 0;
  const draw = async (result: Plan, mine: number) => {
    const points = [result.origin, ...result.legs.map((leg) => (leg.stop ? `site:${leg.stop.site_code}` : leg.end))];
    const query = new URLSearchParams();
    for (const p of points) query.append("point", p);
    const shape = await api<{ points: MapPoint[]; route: [number, number][] }>(`/console/trip-map?${query}`);
    const places = shape.points.filter((p) => p.kind === "place");
    const names = await Promise.all(places.map((p) => placeName(p.name)));
    if (mine !== attempt) return;
    map.clear();
    map.fit(bounds(shape.route), 0.08);
    map.overlay.addLayer(L.polyline(shape.route, { className: "route", interactive: false }));
    let n = 0;
    for (const point of shape.points) {
      if (point.kind === "stop") {
        n += 1;
        map.overlay.addLayer(L.marker([point.lat, point.lon], { title: `${n}. ${point.name}`,
          icon: dotIcon("stop", 18, { "data-site": point.code ?? "" }, String(n)) }));
        continue;
      }
      const index = places.indexOf(point);
      const end = index === 0 ? "origin" : index === places.length - 1 ? "destination" : "via";
      const label = end === "via" ? names[index] : `${t(`trip.${end}`)}: ${names[index]}`;
      map.overlay.addLayer(L.marker([point.lat, point.lon], { interactive: false, pane: "labelled",
        icon: dotIcon(`place ${end}`, 12, { "data-place": point.name }, label) }));
    }
  };

  const plan = async () => {
    const mine = ++attempt;
    map.clear();
    status.className = "waiting";
    status.textContent = t("trip.planning");
    summary.replaceChildren();
    chart.replaceChildren();
    legs.replaceChildren();
    try {
      const result = await api<Plan>("/trips/plan", { method: "POST", body: JSON.stringify({
        origin: origin.value.trim(), destination: destination.value.trim(), vehicle_id: vehicle.value,
        start_soc: Number(soc.value), on_date: day.value || null }) });
      await loadWords(); // else names and notes stay in English
      if (mine !== attempt) return;
      status.className = "";
      status.textContent = "";
      const totals = result.totals;
      const tile = (id: string, label: string, value: string) =>
        h("div", { class: "tile", id }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));
      summary.replaceChildren(h("div", { class: "tiles" },
        tile("trip-km", t("trip.distance"), `${number(totals.km, 0)} ${t("unit.km")}`),
        tile("trip-time", t("trip.time"), hoursMinutes(totals.total_min)),
        tile("trip-stops", t("trip.stops"), number(totals.stops, 0)),
        tile("trip-charging", t("trip.charging"), hoursMinutes(totals.charge_min)),
        tile("trip-arrival", t("trip.arrivalSoc"), `${number(totals.arrival_soc, 0)} %`),
        tile("trip-cost", t("trip.cost"), totals.cost?.length ? totals.cost.map((c) => money(c.amount, c.currency)).join(" + ") : "–"),
      ), ...result.notes.map((note) => h("p", { class: "warning", "data-code": note.code }, explain(note))));
      chart.replaceChildren(h("figcaption", {}, t("trip.profile")), profileChart(result.legs));
      legs.replaceChildren(h("table", { id: "leg-table" },
        h("thead", {}, h("tr", {}, ...[t("trip.leg"), t("trip.distance"), t("trip.climb"), t("trip.energy"), t("trip.drive"),
          t("trip.stop"), t("col.standard"), t("col.energy"), t("trip.charging"), t("trip.soc"), t("trip.lowest")].map((x) => h("th", {}, x)))),
        h("tbody", {}, ...result.legs.map((leg) => h("tr", { class: leg.stop ? "with-stop" : undefined },
          h("td", {}, `${placeWords.get(leg.start) ?? leg.start} → ${placeWords.get(leg.end) ?? leg.end}`),
          h("td", {}, `${number(leg.km, 0)} ${t("unit.km")}`),
          h("td", {}, `${number(leg.climb_m, 0)} m`),
          h("td", {}, `${number(leg.energy_kwh)} ${t("unit.kwh")}${leg.temp_c === null ? "" : ` · ${number(leg.temp_c, 0)} °C`}`),
          h("td", {}, hoursMinutes(leg.drive_min + leg.border_wait_min)),
          h("td", {}, leg.stop ? h("span", {}, leg.stop.site_name,
            leg.stop.roaming ? h("span", { class: "roaming-badge" }, t("find.roaming", { partner: leg.stop.roaming })) : null,
            h("br", {}),
            h("span", { class: "hint" }, leg.stop.arrive_at ? time(leg.stop.arrive_at) : "")) : "–"),
          h("td", {}, leg.stop ? `${leg.stop.standard} · ${number(leg.stop.power_kw, 0)} ${t("unit.kw")}` : "–"),
          h("td", {}, leg.stop ? `${number(leg.stop.energy_kwh)} ${t("unit.kwh")}` : "–"),
          h("td", {}, leg.stop ? hoursMinutes(leg.stop.charge_min) : "–"),
          h("td", {}, leg.stop ? `${number(leg.stop.arrival_soc, 0)} → ${number(leg.stop.departure_soc, 0)} %`
            : `${number(leg.arrival_soc, 0)} %`),
          h("td", {}, `${number(leg.lowest_soc, 0)} %`),
        )))));
      await draw(result, mine);
    } catch (error) {
      if (mine !== attempt) return;
      map.clear();
      await loadWords();
      if (mine !== attempt) return;
      status.className = "error";
      const body = error instanceof ApiError ? (error.body as Partial<Explained> | null) : null;
      const why = body && typeof body.code === "string"
        ? explain({ code: body.code, params: body.params ?? {}, options: body.options ?? [] })
        : error instanceof ApiError ? String(error.detail) : t("common.error");
      status.textContent = `${t("trip.failed")}: ${why}`;
      status.setAttribute("data-code", body?.code ?? "");
    }
  };
}
