// All stations on the region's map, coloured by live state, recoloured as events arrive. Nearby
// stations are clustered (a cluster takes the colour of the most pressing state inside it) and
// split as one zooms in. `#/map/<station>` opens the map zoomed onto one station.
// With the OpenStreetMap switch off (the default) nothing is loaded from another origin.

import L from "leaflet";
import { api } from "../api";
import { h } from "../dom";
import { GeoMap, dotIcon } from "../geomap";
import { t } from "../i18n";
import { STATES, live, stateOf } from "../live";
import { VIEW } from "../map";

interface Site { id: number; code: string; name: string; city: string | null; lat: number; lon: number }

/** Pixels across a station's dot. */
const DOT = 13;
/** Which state a cluster shows: the first of these that any station inside it is in. */
const URGENCY = ["faulted", "unavailable", "charging", "available", "planned", "offline"];

export function mapPage(root: HTMLElement, focus?: string): () => void {
  const stateOfMarker = new Map<L.Marker, string>();
  const map = new GeoMap("map", (markers) => {
    const states = new Set(markers.map((m) => stateOfMarker.get(m)));
    return URGENCY.find((s) => states.has(s)) ?? "offline";
  });
  map.fit(VIEW, 0);
  const counts = h("ul", { class: "legend" });
  root.append(h("h1", {}, t("nav.map")), counts, map.element,
    h("p", {}, h("a", { id: "planning-link", href: "#/planning" }, t("planning.title"))));

  const placed = new Map<string, L.Marker>();
  let sites: Map<number, Site> | null = null;
  let focused = false;

  const icon = (id: string, state: string) => dotIcon(`station ${state}`, DOT, { "data-station": id, "data-state": state });

  const place = (id: string, site: Site, state: string) => {
    const marker = L.marker([site.lat, site.lon], { icon: icon(id, state), title: `${id} · ${site.name}` });
    marker.on("click", () => { location.hash = `#/stations/${encodeURIComponent(id)}`; });
    placed.set(id, marker);
    stateOfMarker.set(marker, state);
    map.stations.addLayer(marker);
    return marker;
  };

  const paint = () => {
    const tally = Object.fromEntries(STATES.map((s) => [s, 0]));
    const changed: L.Marker[] = [];
    for (const id of Object.keys(live.stations).sort()) {
      const state = stateOf(live.stations[id]);
      tally[state] += 1;
      const site = sites?.get(live.stations[id].site_id ?? -1);
      const known = placed.get(id);
      if (!known && site) place(id, site, state);
      else if (known && stateOfMarker.get(known) !== state) {
        stateOfMarker.set(known, state);
        known.setIcon(icon(id, state));
        known.options.title = `${id} · ${site?.name ?? ""}: ${t(`state.${state}`)}`;
        changed.push(known);
      }
    }
    if (changed.length) map.stations.refreshClusters(changed);
    counts.replaceChildren(...STATES.map((s) =>
      h("li", { class: s }, h("span", { class: "swatch" }), `${t(`state.${s}`)}: ${tally[s]}`)));
    const target = focus ? placed.get(focus) : undefined;
    if (target && !focused) {
      focused = true;
      map.reveal(target);
    }
  };

  // Busy until the stations are placed: assistive technology (and a test) can tell a map still
  // loading from one with nothing on it.
  const region = map.map.getContainer();
  region.setAttribute("aria-busy", "true");
  void api<Site[]>("/sites").then((list) => {
    sites = new Map(list.map((site) => [site.id, site]));
    paint();
    region.setAttribute("aria-busy", "false");
  });

  return live.subscribe(paint);
}
