// A depot's vehicles and its overnight plan (POST /smart/sites/{code}/depot/plan): does everyone
// leave full, who falls short by how much, and the planned peak against everyone charging at
// full power on arrival. Planning also sends each charging vehicle its schedule when asked to.

import { api } from "../api";
import { h, table } from "../dom";
import { currentLocale, dateTime, money, number, t } from "../i18n";
import { kw, refusal, type SmartSite } from "../smart";

interface Vehicle {
  code: string; arrival: string; departure: string; max_power_kw: string; energy_kwh: string | null;
  battery_kwh: string | null; soc: string | null; target_soc: string | null;
  station_id: string | null; evse_id: number | null;
}

interface Plan {
  feasible: boolean; shortfall_kwh: Record<string, number>; peak_kw: number; uncontrolled_peak_kw: number;
  energy_cost: string; demand_cost: string; uncontrolled_cost: string; currency: string; solve_seconds: number;
}

const SLOT_MS = 15 * 60_000;

/** kWh a vehicle still needs: given outright, or its battery between the two states of charge. */
function need(v: Vehicle): number {
  if (v.energy_kwh !== null) return Number(v.energy_kwh);
  return Math.max(0, Number(v.battery_kwh) * (Number(v.target_soc) - Number(v.soc)));
}

const kwhText = (value: number) => `${number(value)} ${t("unit.kwh")}`;

/** A moment as a datetime-local input shows it: the browser's own clock time. */
function localInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function vehicleTable(vehicles: Vehicle[], plan: Plan | null): HTMLElement {
  const outcome = (v: Vehicle) => {
    if (!plan) return "–";
    const short = plan.shortfall_kwh[v.code];
    return short ? h("span", { class: "short" }, t("depot.shortBy", { kwh: kwhText(short) }))
      : h("span", { class: "full" }, t("depot.full"));
  };
  const rows = vehicles.map((v) => [
    v.code, dateTime(v.arrival), dateTime(v.departure), kw(Number(v.max_power_kw)), kwhText(need(v)),
    v.station_id ? `${v.station_id} / ${v.evse_id ?? "–"}` : "–", outcome(v),
  ]);
  const element = table([t("depot.vehicle"), t("depot.arrives"), t("depot.leaves"), t("depot.maxPower"),
    t("depot.needs"), t("depot.chargesOn"), t("depot.afterPlan")], rows, { id: "depot-vehicles" });
  element.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-vehicle", vehicles[i].code));
  return element;
}

function planSummary(plan: Plan, vehicles: number, priced: boolean): HTMLElement[] {
  const short = Object.values(plan.shortfall_kwh);
  const verdict = plan.feasible
    ? t("depot.allFull", { n: number(vehicles, 0) })
    : t("depot.someShort", { short: number(short.length, 0), n: number(vehicles, 0),
        kwh: kwhText(short.reduce((a, b) => a + b, 0)) });
  const saved = plan.uncontrolled_peak_kw > 0 ? 1 - plan.peak_kw / plan.uncontrolled_peak_kw : 0;
  const percent = new Intl.NumberFormat(currentLocale(), { style: "percent", maximumFractionDigits: 0 });
  return [
    h("p", { id: "depot-verdict", class: plan.feasible ? "verdict ok" : "verdict short" }, verdict),
    h("p", { id: "depot-peak" }, t("depot.peak", { peak: kw(plan.peak_kw), uncontrolled: kw(plan.uncontrolled_peak_kw),
      saved: percent.format(Math.max(0, saved)) })),
    priced ? h("p", {}, t("depot.cost", { energy: money(plan.energy_cost, plan.currency),
      demand: money(plan.demand_cost, plan.currency), uncontrolled: money(plan.uncontrolled_cost, plan.currency) })) : null,
  ].filter((p): p is HTMLParagraphElement => p !== null);
}

function planForm(vehicles: Vehicle[], onPlan: (body: Record<string, unknown>) => Promise<void>): HTMLFormElement {
  const first = Math.min(...vehicles.map((v) => Date.parse(v.arrival)));
  const last = Math.max(...vehicles.map((v) => Date.parse(v.departure)));
  const start = h("input", { type: "datetime-local", id: "plan-start", required: true,
    value: localInput(Math.floor(first / SLOT_MS) * SLOT_MS) });
  const end = h("input", { type: "datetime-local", id: "plan-end", required: true,
    value: localInput(Math.ceil(last / SLOT_MS) * SLOT_MS) });
  const mode = h("select", { id: "plan-mode" }, h("option", { value: "lp" }, t("depot.modeLp")),
    h("option", { value: "milp" }, t("depot.modeMilp")));
  const push = h("input", { type: "checkbox", id: "plan-push", checked: true });
  const field = (label: string, control: HTMLElement) => h("label", {}, h("span", {}, label), control);
  return h("form", { id: "plan-form", class: "filters", onsubmit: (e: Event) => {
    e.preventDefault();
    void onPlan({ start: new Date(start.value).toISOString(), end: new Date(end.value).toISOString(),
      mode: mode.value, push: push.checked });
  } },
  field(t("depot.from"), start), field(t("depot.to"), end), field(t("depot.mode"), mode),
  h("label", { class: "check" }, push, ` ${t("depot.push")}`),
  h("button", { type: "submit", id: "plan" }, t("depot.plan")));
}

export function depotSection(code: string, site: SmartSite): HTMLElement {
  const id = encodeURIComponent(code);
  const section = h("div", {}, h("h2", {}, t("depot.title")), h("p", { class: "waiting" }, t("smart.loading")));
  const result = h("div", { id: "depot-plan", "aria-live": "polite" });
  void api<Vehicle[]>(`/smart/sites/${id}/depot/vehicles`).then((vehicles) => {
    if (vehicles.length === 0) {
      section.replaceChildren(h("h2", {}, t("depot.title")), h("p", { id: "depot-empty" }, t("depot.noVehicles", { site: code })));
      return;
    }
    const list = h("div", {}, vehicleTable(vehicles, null));
    const plan = async (body: Record<string, unknown>) => {
      result.replaceChildren(h("p", { class: "waiting" }, t("depot.planning")));
      try {
        const answer = await api<Plan>(`/smart/sites/${id}/depot/plan`, { method: "POST", body: JSON.stringify(body) });
        list.replaceChildren(vehicleTable(vehicles, answer));
        result.replaceChildren(...planSummary(answer, vehicles.length, site.prices !== null));
      } catch (error) {
        result.replaceChildren(h("p", { class: "error" }, refusal(error)));
      }
    };
    section.replaceChildren(h("h2", {}, t("depot.title")), list, planForm(vehicles, plan), result);
  }).catch((error) => section.replaceChildren(h("h2", {}, t("depot.title")), h("p", { class: "error" }, refusal(error))));
  return section;
}
