// Network planning on the map: the region's corridors along the roads the planner drives, the
// stretches longer than the coverage rule allows without a qualifying charging pool (in red),
// and every site, clustered. The numbers are `/planning/coverage`'s, for one DC standard.

import L from "leaflet";
import { ApiError, api } from "../api";
import { h } from "../dom";
import { GeoMap, dotIcon, placeName } from "../geomap";
import { number, t } from "../i18n";
import { VIEW } from "../map";
import { standardName } from "./find";

interface Corridor { id: string; name: string; places: { name: string; lat: number; lon: number }[] }
interface Gap { from_km: number; to_km: number; from_label: string; to_label: string; flagged: boolean }
interface Coverage {
  corridor: string; direction: string; origin: string; destination: string; length_km: number;
  max_gap_km: number; longest_gap_km: number; gaps: Gap[];
}
interface Site { code: string; name: string; lat: number; lon: number }

const STANDARDS = ["gbt_dc", "ccs2"];
const gapKm = (gap: Gap) => gap.to_km - gap.from_km;

/** Great-circle km between two [lat, lon] points. */
function km([lat1, lon1]: [number, number], [lat2, lon2]: [number, number]): number {
  const rad = Math.PI / 180, a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(a));
}

/** The part of a line between two road km, the line's own length scaled to the corridor's. */
function stretch(line: [number, number][], lengthKm: number, fromKm: number, toKm: number): [number, number][] {
  const along = [0];
  for (let i = 1; i < line.length; i++) along.push(along[i - 1] + km(line[i - 1], line[i]));
  const scale = along[along.length - 1] / Math.max(lengthKm, 1);
  return line.filter((_, i) => along[i] >= fromKm * scale && along[i] <= toKm * scale);
}

export function planningPage(root: HTMLElement): void {
  const standard = h("select", { id: "planning-standard" },
    ...STANDARDS.map((s) => h("option", { value: s }, standardName(s))));
  const status = h("p", { id: "planning-status", class: "hint", role: "status" });
  const table = h("div", { id: "planning-corridors" });
  const map = new GeoMap("planning-map");
  map.fit(VIEW, 0);
  root.append(h("h1", {}, t("planning.title")), h("p", { class: "hint" }, t("planning.intro")),
    h("form", { class: "filters", onsubmit: (e: Event) => e.preventDefault() },
      h("label", {}, h("span", {}, t("find.standard")), standard)),
    status, map.element, table);

  const lines = new Map<string, [number, number][]>();
  const corridorLayer = L.featureGroup().addTo(map.map);
  const gapLayer = L.featureGroup().addTo(map.map);

  const routes = api<Corridor[]>("/planning/corridors").then((corridors) => Promise.all(corridors.map(async (c) => {
    const query = new URLSearchParams();
    for (const p of c.places) query.append("point", p.name);
    // A corridor the road graph cannot drive end to end (e.g. to a border town the private-car
    // rules close) is drawn straight between its places, dashed.
    const route = await api<{ route: [number, number][] }>(`/console/trip-map?${query}`)
      .then((shape) => shape.route, () => null);
    const line = route ?? c.places.map((p): [number, number] => [p.lat, p.lon]);
    lines.set(c.id, line);
    corridorLayer.addLayer(L.polyline(line, { className: route ? "corridor" : "corridor straight", weight: 4 })
      .bindTooltip(c.name, { sticky: true }));
    return c;
  })));

  void api<Site[]>("/sites").then((sites) => {
    for (const site of sites) {
      map.stations.addLayer(L.marker([site.lat, site.lon], { title: site.name,
        icon: dotIcon("site busy", 12, { "data-site": site.code }) }));
    }
  });

  const show = async () => {
    status.textContent = t("planning.computing");
    gapLayer.clearLayers();
    try {
      const [corridors, answer] = await Promise.all([routes,
        api<{ coverage: Coverage[] }>(`/planning/coverage?standard=${standard.value}`)]);
      const byId = new Map(corridors.map((c) => [c.id, c]));
      const forward = answer.coverage.filter((c) => c.origin === byId.get(c.corridor)?.places[0].name);
      const rows = [];
      for (const cov of forward) {
        const line = lines.get(cov.corridor) ?? [];
        const flagged = cov.gaps.filter((g) => g.flagged);
        for (const gap of flagged) {
          const part = stretch(line, cov.length_km, gap.from_km, gap.to_km);
          if (part.length > 1) {
            gapLayer.addLayer(L.polyline(part, { className: "gap", weight: 6 })
              .bindTooltip(`${gap.from_label} → ${gap.to_label}: ${number(gapKm(gap), 0)} ${t("unit.km")}`, { sticky: true }));
          }
        }
        const names = await Promise.all([placeName(cov.origin), placeName(cov.destination)]);
        // a gap's ends are places or sites: places are named in the console's language
        const ends = await Promise.all(flagged.map(async (g) =>
          `${await placeName(g.from_label)} → ${await placeName(g.to_label)} (${number(gapKm(g), 0)} ${t("unit.km")})`));
        rows.push(h("tr", { "data-corridor": cov.corridor, class: flagged.length ? "has-gaps" : undefined },
          h("td", {}, `${names[0]} – ${names[1]}`),
          h("td", {}, `${number(cov.length_km, 0)} ${t("unit.km")}`),
          h("td", {}, `${number(cov.longest_gap_km, 0)} ${t("unit.km")}`),
          h("td", { class: "gaps" }, flagged.length === 0 ? t("planning.noGaps") : ends.join("; "))));
      }
      const rule = forward[0] ? number(forward[0].max_gap_km, 0) : "";
      status.textContent = t("planning.rule", { km: rule });
      table.replaceChildren(h("table", {}, h("thead", {}, h("tr", {},
        ...[t("planning.corridor"), t("trip.distance"), t("planning.longestGap"), t("planning.gaps")].map((x) => h("th", {}, x)))),
      h("tbody", {}, ...rows)));
    } catch (error) {
      status.textContent = error instanceof ApiError ? String(error.detail) : t("common.error");
    }
  };
  standard.addEventListener("change", () => void show());
  void show();
}
