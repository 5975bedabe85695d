// Every map of the console, on Leaflet (bundled from npm, no CDN). Offline (the default) its base
// layers are the project's own data from our own origin: Natural Earth borders (world-atlas),
// the road network the trip planner drives and the planner's cities, labelled in the console's
// language. The switch under the map adds OpenStreetMap's tiles; until it is on, the map loads
// nothing from another origin.

import L from "leaflet";
import "leaflet.markercluster";
import "leaflet/dist/leaflet.css";
import "leaflet.markercluster/dist/MarkerCluster.css";
import type { FeatureCollection, LineString, MultiLineString, Point } from "geojson";
import { h } from "./dom";
import { language, t } from "./i18n";
import { countryShapes } from "./map";

const TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
const TILES_ON = "silkcharge.osmTiles";
/** Smaller places are labelled from this zoom on; the big ones always. */
const ALL_CITIES_ZOOM = 7;

export interface Bounds { south: number; west: number; north: number; east: number }

export const tilesWanted = {
  get: (): boolean => localStorage.getItem(TILES_ON) === "on",
  set: (on: boolean) => localStorage.setItem(TILES_ON, on ? "on" : "off"),
};

interface City { id: string; name: string; country: string; major: boolean }

let roads: Promise<FeatureCollection<MultiLineString | LineString>> | null = null;
const cities = new Map<string, Promise<FeatureCollection<Point, City>>>();

/** The planner's places named in the console's language (once per language). */
export function cityNames(): Promise<FeatureCollection<Point, City>> {
  if (!cities.has(language)) {
    cities.set(language, fetch(`/api/v1/console/map/cities?lang=${language}`).then((r) => r.json()));
  }
  return cities.get(language)!;
}

/** A place's name in the console's language, if the map data has it; else the name given. */
export async function placeName(name: string): Promise<string> {
  const found = (await cityNames()).features.find((c) => c.properties.id === name);
  return found?.properties.name ?? name;
}

const toBounds = (b: Bounds) => L.latLngBounds([b.south, b.west], [b.north, b.east]);

/** A round mark drawn as HTML, so it can carry data attributes and classes for its state. */
export function dotIcon(className: string, px: number, attrs: Record<string, string> = {}, label?: string): L.DivIcon {
  const data = Object.entries(attrs).map(([k, v]) => ` ${k}="${escape(v)}"`).join("");
  const text = label === undefined ? "" : `<span class="mark-label">${escape(label)}</span>`;
  return L.divIcon({ className: "mark", iconSize: [px, px], iconAnchor: [px / 2, px / 2],
    html: `<span class="dot ${className}"${data} style="width:${px}px;height:${px}px"></span>${text}` });
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class GeoMap {
  readonly element: HTMLElement;
  readonly map: L.Map;
  /** What a page draws (a route, a search circle, trip ends); `clear()` empties it. Marks with
   * a label that must stay readable go in the pane "labelled", above the cities' names. */
  readonly overlay = L.featureGroup();
  /** Stations, clustered: nearby ones join into one counted circle that splits as one zooms in. */
  readonly stations: L.MarkerClusterGroup;
  private readonly tiles = L.tileLayer(TILES, { maxZoom: 18, crossOrigin: false });
  private readonly majorCities = L.layerGroup();
  private readonly minorCities = L.layerGroup();
  private pending: L.LatLngBounds | null = null;

  constructor(id: string, cluster: (markers: L.Marker[]) => string = () => "") {
    const box = h("div", { id, class: "geomap", role: "region", "aria-label": t("nav.map") });
    this.map = L.map(box, { attributionControl: false, zoomControl: false, minZoom: 3, maxZoom: 18,
      worldCopyJump: false, zoomSnap: 0.5 });
    L.control.zoom({ zoomInTitle: t("map.zoomIn"), zoomOutTitle: t("map.zoomOut") }).addTo(this.map);
    this.stations = L.markerClusterGroup({
      showCoverageOnHover: false, maxClusterRadius: 45, spiderfyOnMaxZoom: true,
      iconCreateFunction: (group) => {
        const n = group.getChildCount();
        const size = n < 10 ? 30 : n < 100 ? 36 : 44;
        return L.divIcon({ className: `cluster ${cluster(group.getAllChildMarkers())}`, iconSize: [size, size],
          html: `<span title="${escape(t("map.stations", { n }))}" data-count="${n}">${n}</span>` });
      },
    });
    const toggle = h("input", {
      type: "checkbox", id: `${id}-osm`, class: "osm-switch", checked: tilesWanted.get(),
      onchange: (e: Event) => { tilesWanted.set((e.target as HTMLInputElement).checked); this.drawTiles(); },
    });
    this.element = h("figure", { class: "geomap-frame" }, box,
      h("figcaption", {}, h("label", {}, toggle, ` ${t("map.osmTiles")}`), h("span", { class: "attribution" })));
    this.map.createPane("land").style.zIndex = "250";
    this.map.createPane("roads").style.zIndex = "350";
    this.map.createPane("cities").style.zIndex = "620";
    this.map.createPane("labelled").style.zIndex = "650";
    this.overlay.addTo(this.map);
    this.stations.addTo(this.map);
    this.drawBase();
    this.drawTiles();
    this.map.on("zoomend", () => this.showCities());
    // The page appends the map after building it: size and fit it once it has a size.
    new ResizeObserver(() => {
      if (!box.clientWidth) return;
      this.map.invalidateSize();
      if (this.pending) { this.map.fitBounds(this.pending, { animate: false, padding: [24, 24] }); this.pending = null; }
    }).observe(box);
  }

  /** Show these bounds, with a margin (a share of their size). */
  fit(bounds: Bounds, margin = 0.1): void {
    const padded = toBounds(bounds).pad(margin);
    if (this.map.getContainer().clientWidth) this.map.fitBounds(padded, { animate: false, padding: [24, 24] });
    else this.pending = padded;
  }

  /** Zoom until this station's marker stands out of its cluster. A map is drawn (and its
   * clusters made) only once it has a size; until then this waits for it, so a page may ask
   * before its container is laid out. */
  reveal(marker: L.Marker): void {
    this.map.whenReady(() => this.stations.zoomToShowLayer(marker));
  }

  clear(): void {
    this.overlay.clearLayers();
    this.stations.clearLayers();
  }

  private drawBase(): void {
    void countryShapes().then((shapes) => L.geoJSON(shapes, {
      pane: "land", interactive: false, style: { className: "country", weight: 1 } }).addTo(this.map));
    roads ??= fetch("/api/v1/console/map/roads").then((r) => r.json());
    void roads.then((lines) => L.geoJSON(lines, {
      pane: "roads", interactive: false, style: { className: "road", weight: 1.2 } }).addTo(this.map));
    void cityNames().then((places) => {
      for (const city of places.features) {
        const [lon, lat] = city.geometry.coordinates;
        const { id, name, major } = city.properties;
        L.marker([lat, lon], { pane: "cities", interactive: false, keyboard: false,
          icon: L.divIcon({ className: `city${major ? " major" : ""}`, iconSize: [6, 6], iconAnchor: [3, 3],
            html: `<span class="city-label" data-place="${escape(id)}" lang="${language}">${escape(name)}</span>` }),
        }).addTo(major ? this.majorCities : this.minorCities);
      }
      this.majorCities.addTo(this.map);
      this.showCities();
    });
  }

  private showCities(): void {
    const all = this.map.getZoom() >= ALL_CITIES_ZOOM;
    if (all && !this.map.hasLayer(this.minorCities)) this.minorCities.addTo(this.map);
    if (!all && this.map.hasLayer(this.minorCities)) this.minorCities.remove();
  }

  /** OSM tiles, only when switched on: with the switch off, the tile layer is not on the map
   * and no tile is requested. Our roads and the land's fill give way to the tiles' own. */
  private drawTiles(): void {
    const on = tilesWanted.get();
    this.element.classList.toggle("tiled", on);
    const osm = h("a", { href: "https://www.openstreetmap.org/copyright", target: "_blank", rel: "noopener" }, "© OpenStreetMap");
    const attribution = this.element.querySelector(".attribution")!;
    attribution.replaceChildren(...(on
      ? [t("map.osmAttribution") + " ", osm]
      : [`${t("map.roads")} `, osm, ` (ODbL) · ${t("map.borders")}`]));
    if (on) this.tiles.addTo(this.map); else this.tiles.remove();
  }
}
