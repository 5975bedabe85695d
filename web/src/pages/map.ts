// All stations on the region's map, coloured by live state, recoloured as events arrive.

import { api } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { STATES, live, stateOf } from "../live";
import { HEIGHT, countryPaths, project } from "../map";

const SVG = "http://www.w3.org/2000/svg";

interface Site { id: number; code: string; name: string; city: string | null; lat: number; lon: number }

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  return element;
}

export function mapPage(root: HTMLElement): () => void {
  const map = svg("svg", { id: "map", viewBox: `0 0 1000 ${HEIGHT}`, role: "img" }) as SVGSVGElement;
  const land = svg("g", { class: "countries" });
  const dots = svg("g", { class: "stations" });
  map.append(land, dots);
  const counts = h("ul", { class: "legend" });
  root.append(h("h1", {}, t("nav.map")), counts, map);

  const view = { x: 0, y: 0, w: 1000, h: HEIGHT };
  const radius = () => Math.max(1.2, 5 * (view.w / 1000));
  const setView = () => {
    map.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    for (const dot of dots.children) dot.setAttribute("r", String(radius()));
  };
  map.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = map.getBoundingClientRect();
    const factor = e.deltaY < 0 ? 0.8 : 1.25;
    const px = view.x + ((e.clientX - box.left) / box.width) * view.w;
    const py = view.y + ((e.clientY - box.top) / box.height) * view.h;
    view.w = Math.min(1000, Math.max(20, view.w * factor));
    view.h = view.w * (HEIGHT / 1000);
    view.x = px - ((e.clientX - box.left) / box.width) * view.w;
    view.y = py - ((e.clientY - box.top) / box.height) * view.h;
    setView();
  }, { passive: false });
  let drag: { x: number; y: number } | null = null;
  map.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
  map.addEventListener("pointerup", () => { drag = null; });
  map.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const scale = view.w / map.getBoundingClientRect().width;
    view.x -= (e.clientX - drag.x) * scale;
    view.y -= (e.clientY - drag.y) * scale;
    drag = { x: e.clientX, y: e.clientY };
    setView();
  });

  void countryPaths().then((paths) => land.append(...paths.map((d) => svg("path", { d }))));

  const placed = new Map<string, SVGElement>();
  const perSite = new Map<number, number>();
  let sites: Map<number, Site> | null = null;

  const place = (id: string, site: Site) => {
    const n = perSite.get(site.id) ?? 0;
    perSite.set(site.id, n + 1);
    const [x, y] = project(site.lon, site.lat);
    const dot = svg("circle", {
      cx: x + (n ? 4 * Math.cos(n * 2.4) : 0), cy: y + (n ? 4 * Math.sin(n * 2.4) : 0),
      r: radius(), "data-station": id, tabindex: 0,
    });
    dot.append(svg("title", {}));
    dot.addEventListener("click", () => { location.hash = `#/stations/${encodeURIComponent(id)}`; });
    placed.set(id, dot);
    dots.append(dot);
    return dot;
  };

  const paint = () => {
    const tally = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const id of Object.keys(live.stations).sort()) {
      const state = stateOf(live.stations[id]);
      tally[state] += 1;
      const site = sites?.get(live.stations[id].site_id ?? -1);
      const dot = placed.get(id) ?? (site ? place(id, site) : undefined);
      if (dot && dot.getAttribute("data-state") !== state) {
        dot.setAttribute("data-state", state);
        dot.setAttribute("class", `station ${state}`);
        if (state !== "offline") dots.append(dot); // drawn last, so not hidden by silent neighbours
        dot.querySelector("title")!.textContent = `${id} · ${site?.name ?? ""}: ${t(`state.${state}`)}`;
      }
    }
    counts.replaceChildren(...STATES.map((s) =>
      h("li", { class: s }, h("span", { class: "swatch" }), `${t(`state.${s}`)}: ${tally[s]}`)));
  };

  void api<Site[]>("/sites").then((list) => {
    sites = new Map(list.map((site) => [site.id, site]));
    paint();
  });

  return live.subscribe(paint);
}
