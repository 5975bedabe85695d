// A zoomable map for the driver pages, in Web Mercator so that OpenStreetMap tiles fit under it.
// Offline (the default) it draws Natural Earth borders from world-atlas and loads nothing from
// another origin; the switch adds the standard OSM tile layer when the browser is online.

import type { Geometry, Position } from "geojson";
import { h } from "./dom";
import { t } from "./i18n";
import { countryShapes } from "./map";

const SVG = "http://www.w3.org/2000/svg";
const TILES = "https://tile.openstreetmap.org";
const TILES_ON = "silkcharge.osmTiles";
const ASPECT = 0.6;

export interface Bounds { south: number; west: number; north: number; east: number }

/** Longitude/latitude to Web Mercator "world" units: the whole world is 256 × 256. */
export function mercator(lon: number, lat: number): [number, number] {
  const phi = (Math.max(-85, Math.min(85, lat)) * Math.PI) / 180;
  const x = ((lon + 180) / 360) * 256;
  const y = ((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * 256;
  return [x, y];
}

export function svg(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  return element;
}

function ring(points: Position[]): string {
  return "M" + points.map(([lon, lat]) => mercator(lon, lat).map((v) => v.toFixed(4)).join(",")).join("L") + "Z";
}

function outline(geometry: Geometry): string {
  if (geometry.type === "Polygon") return geometry.coordinates.map(ring).join("");
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat().map(ring).join("");
  return "";
}

/** A mark that keeps its size in pixels (and its nudge off its point) at every zoom. */
interface Mark { dot: SVGElement; px: number; at: [number, number]; nudge: [number, number] }

export const tilesWanted = {
  get: (): boolean => localStorage.getItem(TILES_ON) === "on",
  set: (on: boolean) => localStorage.setItem(TILES_ON, on ? "on" : "off"),
};

export class GeoMap {
  readonly element: HTMLElement;
  readonly svg: SVGSVGElement;
  /** Lines (routes) and marks (stations, stops) are drawn into these groups by the page. */
  readonly lines = svg("g", { class: "lines" });
  readonly marks = svg("g", { class: "marks" });
  private readonly tiles = svg("g", { class: "tiles" });
  private readonly land = svg("g", { class: "countries" });
  private view = { x: 0, y: 0, w: 256, h: 256 * ASPECT };
  private tileTimer: number | undefined;
  private sized: Mark[] = [];

  constructor(id: string) {
    this.svg = svg("svg", { id, class: "geomap", role: "img" }) as SVGSVGElement;
    this.svg.append(this.tiles, this.land, this.lines, this.marks);
    const toggle = h("input", {
      type: "checkbox", id: `${id}-osm`, class: "osm-switch", checked: tilesWanted.get(),
      onchange: (e: Event) => { tilesWanted.set((e.target as HTMLInputElement).checked); this.drawTiles(); },
    });
    const attribution = h("span", { class: "attribution" });
    this.element = h("figure", { class: "geomap-frame" }, this.svg,
      h("figcaption", {}, h("label", {}, toggle, ` ${t("map.osmTiles")}`), attribution));
    this.interact();
    void countryShapes().then((shapes) =>
      this.land.append(...shapes.map((shape) => svg("path", { d: outline(shape) }))));
    this.setView();
  }

  /** Show these bounds (with a margin), keeping the map's proportions. */
  fit(bounds: Bounds, margin = 0.15): void {
    const [x0, y1] = mercator(bounds.west, bounds.south);
    const [x1, y0] = mercator(bounds.east, bounds.north);
    let w = Math.max(x1 - x0, 0.02) * (1 + 2 * margin);
    let hgt = Math.max(y1 - y0, 0.012) * (1 + 2 * margin);
    if (hgt > w * ASPECT) w = hgt / ASPECT; else hgt = w * ASPECT;
    this.view = { x: (x0 + x1) / 2 - w / 2, y: (y0 + y1) / 2 - hgt / 2, w, h: hgt };
    this.setView();
  }

  /** A size in world units that looks `px` pixels wide at the current zoom. */
  size(px: number): number {
    return (px * this.view.w) / 1000;
  }

  /** Web Mercator world units of a point. */
  at(lon: number, lat: number): [number, number] {
    return mercator(lon, lat);
  }

  /** A round mark `px` pixels across at any zoom, with its own attributes; `nudge` moves it
   * that many pixels off its point, so marks at one place (stations of a site) stay apart. */
  dot(lon: number, lat: number, px: number, attrs: Record<string, string | number> = {},
    nudge: [number, number] = [0, 0]): SVGElement {
    const at = mercator(lon, lat);
    const dot = svg("circle", { r: this.size(px), ...attrs });
    const mark = { dot, px, at, nudge };
    this.place(mark);
    this.sized.push(mark);
    this.marks.append(dot);
    return dot;
  }

  private place({ dot, px, at, nudge }: Mark): void {
    dot.setAttribute("cx", String(at[0] + this.size(nudge[0])));
    dot.setAttribute("cy", String(at[1] + this.size(nudge[1])));
    dot.setAttribute("r", String(this.size(px)));
  }

  /** A line through points given as [lat, lon]. */
  line(points: [number, number][], attrs: Record<string, string | number> = {}): SVGElement {
    const d = "M" + points.map(([lat, lon]) => mercator(lon, lat).map((v) => v.toFixed(5)).join(",")).join("L");
    const path = svg("path", { d, ...attrs });
    this.lines.append(path);
    return path;
  }

  clear(): void {
    this.marks.replaceChildren();
    this.lines.replaceChildren();
    this.sized = [];
  }

  private setView(): void {
    const { x, y, w, h: height } = this.view;
    this.svg.setAttribute("viewBox", `${x} ${y} ${w} ${height}`);
    for (const mark of this.sized) this.place(mark);
    this.svg.dispatchEvent(new CustomEvent("viewchange"));
    clearTimeout(this.tileTimer);
    this.tileTimer = window.setTimeout(() => this.drawTiles(), 150);
  }

  /** OSM tiles for the current view, only when switched on; none are requested otherwise. */
  private drawTiles(): void {
    const on = tilesWanted.get();
    this.element.classList.toggle("tiled", on);
    const attribution = this.element.querySelector(".attribution")!;
    attribution.replaceChildren(...(on ? [t("map.osmAttribution") + " ",
      h("a", { href: "https://www.openstreetmap.org/copyright", target: "_blank", rel: "noopener" }, "© OpenStreetMap")] : []));
    if (!on) { this.tiles.replaceChildren(); return; }
    const pixels = this.svg.getBoundingClientRect().width || 1000;
    const zoom = Math.max(1, Math.min(18, Math.round(Math.log2(pixels / this.view.w))));
    const n = 2 ** zoom, span = 256 / n;
    const first = (v: number) => Math.max(0, Math.floor(v / span));
    const last = (v: number) => Math.min(n - 1, Math.floor(v / span));
    const images: SVGElement[] = [];
    for (let tx = first(this.view.x); tx <= last(this.view.x + this.view.w); tx++)
      for (let ty = first(this.view.y); ty <= last(this.view.y + this.view.h); ty++)
        images.push(svg("image", { href: `${TILES}/${zoom}/${tx}/${ty}.png`, x: tx * span, y: ty * span,
          width: span, height: span, preserveAspectRatio: "none" }));
    this.tiles.replaceChildren(...images);
  }

  private interact(): void {
    const map = this.svg;
    map.addEventListener("wheel", (e) => {
      e.preventDefault();
      const box = map.getBoundingClientRect();
      const fx = (e.clientX - box.left) / box.width, fy = (e.clientY - box.top) / box.height;
      const px = this.view.x + fx * this.view.w, py = this.view.y + fy * this.view.h;
      this.view.w = Math.min(256, Math.max(0.005, this.view.w * (e.deltaY < 0 ? 0.8 : 1.25)));
      this.view.h = this.view.w * ASPECT;
      this.view.x = px - fx * this.view.w;
      this.view.y = py - fy * this.view.h;
      this.setView();
    }, { passive: false });
    let drag: { x: number; y: number } | null = null;
    map.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
    map.addEventListener("pointerup", () => { drag = null; });
    map.addEventListener("pointerleave", () => { drag = null; });
    map.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const scale = this.view.w / map.getBoundingClientRect().width;
      this.view.x -= (e.clientX - drag.x) * scale;
      this.view.y -= (e.clientY - drag.y) * scale;
      drag = { x: e.clientX, y: e.clientY };
      this.setView();
    });
  }
}
