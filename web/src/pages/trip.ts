// Plan a trip: where from and to, which car; the charging stops on the map and in a table.

import { ApiError, api } from "../api";
import { h } from "../dom";
import { GeoMap, type Bounds } from "../geomap";
import { money, number, t, time } from "../i18n";
import type { VehicleSummary } from "./vehicles";

interface Stop {
  site_code: string; site_name: string; operator: string; standard: string; power_kw: number;
  arrival_soc: number; departure_soc: number; energy_kwh: number; charge_min: number;
  cost: { amount: string; currency: string } | null; arrive_at: string | null;
}
interface Leg { start: string; end: string; km: number; drive_min: number; border_wait_min: number; arrival_soc: number; stop: Stop | null }
interface Plan {
  vehicle: { id: string; name: string }; origin: string; destination: string; legs: Leg[]; warnings: string[];
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

function bounds(points: [number, number][]): Bounds {
  const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
  return { south: Math.min(...lats), north: Math.max(...lats), west: Math.min(...lons), east: Math.max(...lons) };
}

export function tripPage(root: HTMLElement): void {
  vehicles ??= api<VehicleSummary[]>("/vehicles?limit=500");
  places ??= api<{ name: string }[]>("/console/places");
  const field = (label: string, control: HTMLElement) => h("label", {}, h("span", {}, label), control);
  const origin = h("input", { id: "origin", list: "places", value: "Almaty", required: true });
  const destination = h("input", { id: "destination", list: "places", value: "Bishkek", required: true });
  const vehicle = h("select", { id: "vehicle", required: true });
  const soc = h("input", { id: "start-soc", type: "number", min: 5, max: 100, value: 90 });
  const winter = h("input", { id: "winter", type: "checkbox" });
  const datalist = h("datalist", { id: "places" });
  const status = h("p", { id: "trip-status", role: "status" });
  const summary = h("div", { id: "trip-summary" });
  const legs = h("div", { id: "trip-legs" });
  const map = new GeoMap("trip-map");
  const form = h("form", { id: "trip-form", class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void plan(); } },
    field(t("trip.origin"), origin), field(t("trip.destination"), destination), field(t("trip.vehicle"), vehicle),
    field(t("trip.startSoc"), soc), h("label", { class: "check" }, winter, ` ${t("trip.winter")}`),
    h("button", { type: "submit", id: "plan" }, t("trip.plan")));
  root.append(h("h1", {}, t("trip.title")), form, datalist, status, summary, map.element, legs);
  map.fit({ south: 36, north: 52, west: 55, east: 82 });

  void places.then((list) => datalist.replaceChildren(...list.map((p) => h("option", { value: p.name }))));
  void vehicles.then((list) => {
    vehicle.replaceChildren(...list.map((v) => h("option", { value: v.id, selected: v.id === "byd-dolphin-extended-range-2025-cn" }, v.name)));
  });

  const draw = async (result: Plan) => {
    const points = [result.origin, ...result.legs.map((leg) => (leg.stop ? `site:${leg.stop.site_code}` : leg.end))];
    const query = new URLSearchParams();
    for (const p of points) query.append("point", p);
    const shape = await api<{ points: MapPoint[]; route: [number, number][] }>(`/console/trip-map?${query}`);
    map.clear();
    map.fit(bounds(shape.route), 0.08);
    map.line(shape.route, { class: "route" });
    let n = 0;
    for (const point of shape.points) {
      if (point.kind === "stop") {
        n += 1;
        const dot = map.dot(point.lon, point.lat, 16, { class: "stop", "data-site": point.code ?? "" });
        dot.append(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "title"), { textContent: `${n}. ${point.name}` }));
      } else {
        map.dot(point.lon, point.lat, 11, { class: "place", "data-place": point.name });
      }
    }
  };

  const plan = async () => {
    status.className = "waiting";
    status.textContent = t("trip.planning");
    summary.replaceChildren();
    legs.replaceChildren();
    try {
      const result = await api<Plan>("/trips/plan", { method: "POST", body: JSON.stringify({
        origin: origin.value.trim(), destination: destination.value.trim(), vehicle_id: vehicle.value,
        start_soc: Number(soc.value), consumption_factor: winter.checked ? 1.3 : 1.0 }) });
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
      ), ...result.warnings.map((w) => h("p", { class: "warning" }, w)));
      legs.replaceChildren(h("table", { id: "leg-table" },
        h("thead", {}, h("tr", {}, ...[t("trip.leg"), t("trip.distance"), t("trip.drive"), t("trip.stop"),
          t("col.standard"), t("col.energy"), t("trip.charging"), t("trip.soc")].map((x) => h("th", {}, x)))),
        h("tbody", {}, ...result.legs.map((leg) => h("tr", { class: leg.stop ? "with-stop" : undefined },
          h("td", {}, `${leg.start} → ${leg.end}`),
          h("td", {}, `${number(leg.km, 0)} ${t("unit.km")}`),
          h("td", {}, hoursMinutes(leg.drive_min + leg.border_wait_min)),
          h("td", {}, leg.stop ? h("span", {}, leg.stop.site_name, h("br", {}),
            h("span", { class: "hint" }, leg.stop.arrive_at ? time(leg.stop.arrive_at) : "")) : "–"),
          h("td", {}, leg.stop ? `${leg.stop.standard} · ${number(leg.stop.power_kw, 0)} ${t("unit.kw")}` : "–"),
          h("td", {}, leg.stop ? `${number(leg.stop.energy_kwh)} ${t("unit.kwh")}` : "–"),
          h("td", {}, leg.stop ? hoursMinutes(leg.stop.charge_min) : "–"),
          h("td", {}, leg.stop ? `${number(leg.stop.arrival_soc, 0)} → ${number(leg.stop.departure_soc, 0)} %`
            : `${number(leg.arrival_soc, 0)} %`),
        )))));
      await draw(result);
    } catch (error) {
      status.className = "error";
      status.textContent = `${t("trip.failed")}: ${error instanceof ApiError ? String(error.detail) : t("common.error")}`;
    }
  };
}
