// All stations on the region's map, coloured by live state, recoloured as events arrive. The map
// is the driver pages' Web Mercator one, so the same OpenStreetMap switch puts tiles under it;
// with the switch off (the default) nothing is loaded from another origin.

import { api } from "../api";
import { h } from "../dom";
import { GeoMap, svg } from "../geomap";
import { t } from "../i18n";
import { STATES, live, stateOf } from "../live";
import { VIEW } from "../map";

interface Site { id: number; code: string; name: string; city: string | null; lat: number; lon: number }

/** Pixels: a station's dot, and how far the second and later stations of a site sit off it. */
const RADIUS = 6;
const NUDGE = 5;

export function mapPage(root: HTMLElement): () => void {
  const map = new GeoMap("map");
  map.fit(VIEW, 0);
  const counts = h("ul", { class: "legend" });
  root.append(h("h1", {}, t("nav.map")), counts, map.element);

  const placed = new Map<string, SVGElement>();
  const perSite = new Map<number, number>();
  let sites: Map<number, Site> | null = null;

  const place = (id: string, site: Site) => {
    const n = perSite.get(site.id) ?? 0;
    perSite.set(site.id, n + 1);
    const nudge: [number, number] = n ? [NUDGE * Math.cos(n * 2.4), NUDGE * Math.sin(n * 2.4)] : [0, 0];
    const dot = map.dot(site.lon, site.lat, RADIUS, { "data-station": id, tabindex: 0 }, nudge);
    dot.append(svg("title"));
    dot.addEventListener("click", () => { location.hash = `#/stations/${encodeURIComponent(id)}`; });
    placed.set(id, dot);
    return dot;
  };

  /** Stations that are online are drawn last, so silent neighbours never hide them. */
  const raise = () => {
    for (const dot of placed.values()) if (dot.getAttribute("data-state") !== "offline") map.marks.append(dot);
  };

  const paint = () => {
    const tally = Object.fromEntries(STATES.map((s) => [s, 0]));
    let moved = false;
    for (const id of Object.keys(live.stations).sort()) {
      const state = stateOf(live.stations[id]);
      tally[state] += 1;
      const site = sites?.get(live.stations[id].site_id ?? -1);
      const dot = placed.get(id) ?? (site ? place(id, site) : undefined);
      if (dot && dot.getAttribute("data-state") !== state) {
        dot.setAttribute("data-state", state);
        dot.setAttribute("class", `station ${state}`);
        dot.querySelector("title")!.textContent = `${id} · ${site?.name ?? ""}: ${t(`state.${state}`)}`;
        moved = true;
      }
    }
    if (moved) raise();
    counts.replaceChildren(...STATES.map((s) =>
      h("li", { class: s }, h("span", { class: "swatch" }), `${t(`state.${s}`)}: ${tally[s]}`)));
  };

  void api<Site[]>("/sites").then((list) => {
    sites = new Map(list.map((site) => [site.id, site]));
    paint();
  });

  return live.subscribe(paint);
}
