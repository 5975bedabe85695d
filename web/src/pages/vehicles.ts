// Compare vehicles: find cars in the catalog, tick two to four, see them side by side.

import { ApiError, api } from "../api";
import { h } from "../dom";
import { number, t } from "../i18n";

export interface VehicleSummary {
  id: string; name: string; label?: string; make: string; market: string; battery_kwh: number; range_km: number;
  ac_inlets: string[]; dc_inlets: string[]; dc_kw: number; curve_generic?: boolean;
}

/** The compare rows shown, in order; numbers are formatted and the best one is marked. */
const ROWS: { key: string; unit?: string; best?: "max" | "min" }[] = [
  { key: "market" }, { key: "body" }, { key: "battery_kwh", unit: "unit.kwh", best: "max" },
  { key: "range_km", unit: "unit.km", best: "max" }, { key: "consumption_wh_km", unit: "unit.whKm", best: "min" },
  { key: "ac_inlets" }, { key: "ac_kw", unit: "unit.kw", best: "max" }, { key: "dc_inlets" },
  { key: "dc_kw", unit: "unit.kw", best: "max" }, { key: "dc_10_80_min", unit: "unit.min", best: "min" },
  { key: "chemistry" }, { key: "curve_source" },
];
const CHOSEN = "silkcharge.compare";

export function vehiclesPage(root: HTMLElement): void {
  const chosen: string[] = JSON.parse(sessionStorage.getItem(CHOSEN) ?? "[]");
  const search = h("input", { id: "vehicle-search", type: "search", placeholder: t("veh.searchHint") });
  const list = h("ul", { id: "vehicle-list", class: "picklist" });
  const picked = h("p", { id: "picked", class: "hint" });
  const compareButton = h("button", { id: "compare", type: "button" }, t("veh.compare"));
  const holder = h("div", { id: "comparison" });
  root.append(h("h1", {}, t("veh.title")),
    h("div", { class: "filters" }, h("label", {}, h("span", {}, t("veh.search")), search), compareButton),
    picked, list, holder);

  const showPicked = () => {
    sessionStorage.setItem(CHOSEN, JSON.stringify(chosen));
    picked.textContent = t("veh.picked", { n: number(chosen.length, 0) });
    compareButton.toggleAttribute("disabled", chosen.length < 2);
  };

  const load = async () => {
    const query = new URLSearchParams({ limit: "40" });
    if (search.value.trim()) query.set("q", search.value.trim());
    const found = await api<VehicleSummary[]>(`/vehicles?${query}`);
    list.replaceChildren(...found.map((v) => {
      const box = h("input", { type: "checkbox", value: v.id, checked: chosen.includes(v.id), onchange: (e: Event) => {
        const on = (e.target as HTMLInputElement).checked;
        if (on && chosen.length >= 4) { (e.target as HTMLInputElement).checked = false; return; }
        if (on) chosen.push(v.id); else chosen.splice(chosen.indexOf(v.id), 1);
        showPicked();
      } });
      return h("li", { "data-vehicle": v.id }, h("label", {}, box, ` ${v.label ?? v.name} `,
        h("span", { class: "hint" }, `${number(v.battery_kwh)} ${t("unit.kwh")} · ${number(v.range_km, 0)} ${t("unit.km")} · ${[...v.dc_inlets].join(", ")}`)));
    }));
  };

  const compare = async () => {
    try {
      const result = await api<{ rows: Record<string, (string | number | null)[]> }>(
        `/vehicles/compare?ids=${encodeURIComponent(chosen.join(","))}`);
      const rows = result.rows;
      const cell = (value: string | number | null, unit?: string) =>
        value === null || value === "" ? "–" : typeof value === "number" ? `${number(value)}${unit ? ` ${t(unit)}` : ""}` : String(value);
      holder.replaceChildren(h("table", { id: "comparison-table" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), ...rows.name.map((name) => h("th", {}, String(name))))),
        h("tbody", {}, ...ROWS.filter((row) => row.key in rows).map((row) => {
          const values = rows[row.key];
          const numeric = values.filter((v): v is number => typeof v === "number");
          const differ = new Set(numeric).size > 1;
          const best = row.best && differ ? (row.best === "max" ? Math.max(...numeric) : Math.min(...numeric)) : null;
          return h("tr", { "data-row": row.key }, h("th", {}, t(`veh.${row.key}`)),
            ...values.map((v) => h("td", { class: best !== null && v === best ? "best" : undefined }, cell(v, row.unit))));
        }))));
    } catch (error) {
      holder.replaceChildren(h("p", { class: "error" }, error instanceof ApiError ? String(error.detail) : t("common.error")));
    }
  };

  let typing: number | undefined;
  search.addEventListener("input", () => { clearTimeout(typing); typing = window.setTimeout(() => void load(), 250); });
  compareButton.addEventListener("click", () => void compare());
  showPicked();
  void load();
  if (chosen.length >= 2) void compare();
}
