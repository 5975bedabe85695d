// One site under load management: the connection and its circuit tree with each circuit's
// planned and actual current against its limit, every EVSE's planned, sent and drawn current,
// what load management could not do (in plain words), Rebalance, and the depot when it is one.
// The power view is re-read every few seconds and soon after any event of the site's stations.

import { api } from "../api";
import { h, table } from "../dom";
import { dateTime, kwh, number, t, time } from "../i18n";
import { live } from "../live";
import {
  CONNECTION, amps, evseKey, kw, refusal, toKw,
  type ChargerPower, type CircuitPower, type SitePower, type SmartProblem, type SmartSite,
} from "../smart";
import { depotSection } from "./smartDepot";
import { only } from "../permissions";

const POLL_MS = 3000;
const EVENT_SETTLE_MS = 500;
/** A circuit at this share of its limit or more is "near" it. */
const NEAR = 0.9;
/** Currents are rounded to 0.1 A: within this of the limit is still at it, not over. */
const ROUNDING_A = 0.05;
/** The kinds of problem services/smart.py records, each explained in the console's language. */
const PROBLEM_KINDS = ["profile_rejected", "over_limit", "below_min_current", "circuit_overloaded",
  "departure_unmet", "command_failed"];

type Level = "ok" | "near" | "over";

function level(value: number, limit: number): Level {
  if (value > limit + ROUNDING_A) return "over";
  return value >= NEAR * limit ? "near" : "ok";
}

const worse = (a: Level, b: Level): Level => (a === "over" || b === "over" ? "over" : a === "near" || b === "near" ? "near" : "ok");

/** What the page knows of the site's wiring, to turn amperes into kilowatts. */
class Wiring {
  readonly voltage: number;
  private readonly evsePhases = new Map<string, number>();
  private readonly circuits = new Map<string, SmartSite["circuits"][number]>();

  constructor(readonly site: SmartSite) {
    this.voltage = Number(site.voltage);
    for (const e of site.evses) this.evsePhases.set(evseKey(e.station_id, e.evse_id), e.phases);
    for (const c of site.circuits) this.circuits.set(c.code, c);
  }

  phasesOf(charger: ChargerPower): number {
    return this.evsePhases.get(evseKey(charger.station_id, charger.evse_id)) ?? 3;
  }

  circuitPhases(code: string): number {
    return this.circuits.get(code)?.phases ?? 3;
  }

  circuitName(code: string): string {
    if (code === CONNECTION) return t("smart.gridConnection");
    const name = this.circuits.get(code)?.name;
    return name ? `${name} (${code})` : code;
  }

  plannedKw(c: ChargerPower): number {
    return toKw(c.planned_a ?? 0, this.voltage, this.phasesOf(c));
  }

  /** The meter's power when the station reports it, else its current at the site's voltage;
   * null before the first meter values. */
  actualKw(c: ChargerPower): number | null {
    if (c.actual_w !== null) return Number(c.actual_w) / 1000;
    if (c.actual_a === null) return null;
    return toKw(Number(c.actual_a), this.voltage, this.phasesOf(c));
  }
}

function bar(kind: "planned" | "actual", value: number, limit: number, power: number): HTMLElement {
  const state = level(value, limit);
  const width = limit > 0 ? Math.min(100, (100 * value) / limit) : 0;
  return h("div", { class: `bar-row ${kind}` },
    h("span", { class: "bar-label" }, t(`smart.${kind}`)),
    h("div", { class: `bar ${state}`, role: "meter", "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": value,
      "aria-label": t(`smart.${kind}`) }, h("div", { class: "fill", style: `width: ${width.toFixed(1)}%` })),
    h("span", { class: `bar-value ${kind}`, "data-amps": value }, `${amps(value)} · ${kw(power)}`));
}

function chargerNote(c: ChargerPower, power: SitePower): string {
  const key = evseKey(c.station_id, c.evse_id);
  if (!c.obeys_profiles) return t("smart.ignoresLimits");
  if (power.unmanaged.includes(key)) return t("smart.followsPlan");  // obeys, but the depot plan drives it
  if (power.paused.includes(key)) return t("smart.pausedNote");
  if (c.transaction_id === null && c.sent_a === null) return t("smart.noLimitYet");
  if (c.transaction_id === null) return t("smart.idle", { a: amps(c.sent_a) });
  if (c.sent_a !== null && c.planned_a !== null && Math.abs(c.sent_a - c.planned_a) >= ROUNDING_A)
    return t("smart.sending");
  return t("smart.charging");
}

function chargerTable(chargers: ChargerPower[], power: SitePower, wiring: Wiring): HTMLElement {
  const rows = chargers.map((c) => [
    h("a", { href: `#/stations/${encodeURIComponent(c.station_id)}` }, c.station_id), number(c.evse_id, 0),
    h("span", { class: "planned" }, c.transaction_id === null ? "–" : `${amps(c.planned_a)} · ${kw(wiring.plannedKw(c))}`),
    h("span", { class: "sent" }, amps(c.sent_a)),
    h("span", { class: "actual" }, c.transaction_id === null || c.actual_a === null ? "–"
      : `${amps(c.actual_a)} · ${kw(wiring.actualKw(c))}`),
    h("span", { class: "note" }, chargerNote(c, power),
      c.ev_needs && c.transaction_id !== null ? h("span", { class: "ev-needs" }, ` · ${t("smart.evNeeds", {
        max: c.ev_needs.max_current_a !== null ? amps(c.ev_needs.max_current_a)
          : c.ev_needs.max_power_w !== null ? kw(c.ev_needs.max_power_w / 1000) : "–",
        leaves: c.ev_needs.departure ? dateTime(c.ev_needs.departure) : "–",
      })}`) : null,
      c.ev_needs?.bidirectional && c.transaction_id !== null ? h("span", { class: "ev-v2x" }, ` · ${t("smart.evV2x", {
        power: c.ev_needs.max_discharge_w != null ? kw(c.ev_needs.max_discharge_w / 1000) : "–",
        energy: c.ev_needs.dischargeable_wh != null ? kwh(c.ev_needs.dischargeable_wh) : "–",
      })}`) : null),
  ]);
  const element = table([t("col.station"), t("smart.evse"), t("smart.planned"), t("smart.sent"), t("smart.actual"),
    t("col.state")], rows, { class: "evse-table" });
  element.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.setAttribute("data-station", chargers[i].station_id);
    tr.setAttribute("data-evse", String(chargers[i].evse_id));
  });
  return element;
}

function circuitCard(circuit: CircuitPower, power: SitePower, wiring: Wiring): HTMLElement {
  const members = power.chargers.filter((c) => c.path.includes(circuit.circuit));
  const own = power.chargers.filter((c) => c.path[c.path.length - 1] === circuit.circuit);
  const plannedKw = members.reduce((sum, c) => sum + wiring.plannedKw(c), 0);
  const actualKw = members.reduce((sum, c) => sum + (c.transaction_id === null ? 0 : wiring.actualKw(c) ?? 0), 0);
  const limitKw = toKw(circuit.limit_a, wiring.voltage, wiring.circuitPhases(circuit.circuit));
  const state = worse(level(circuit.planned_a, circuit.limit_a), level(circuit.actual_a, circuit.limit_a));
  const overloaded = power.overloaded.includes(circuit.circuit);
  return h("div", { class: `circuit ${overloaded ? "over" : state}`, "data-circuit": circuit.circuit,
    "data-level": overloaded ? "over" : state, style: `margin-left: ${(circuit.path.length - 1) * 1.6}rem` },
  h("div", { class: "circuit-head" },
    h("strong", {}, wiring.circuitName(circuit.circuit)),
    h("span", { class: "limit" }, t("smart.limit", { a: amps(circuit.limit_a), kw: kw(limitKw) })),
    h("span", { class: `level ${overloaded ? "over" : state}` }, t(`smart.level.${overloaded ? "over" : state}`))),
  bar("planned", circuit.planned_a, circuit.limit_a, plannedKw),
  bar("actual", circuit.actual_a, circuit.limit_a, actualKw),
  own.length ? chargerTable(own, power, wiring) : null);
}

function problemCard(problem: SmartProblem): HTMLElement {
  const known = PROBLEM_KINDS.includes(problem.kind);
  const where = problem.station_id
    ? `${problem.station_id}${problem.evse_id !== null ? ` / ${t("smart.evse")} ${problem.evse_id}` : ""}` : "";
  return h("article", { class: "alert smart-problem", "data-kind": problem.kind },
    h("h3", {}, known ? t(`smart.problem.${problem.kind}`) : problem.kind, where ? ` · ${where}` : ""),
    known ? h("p", { class: "explain" }, t(`smart.why.${problem.kind}`)) : null,
    h("p", { class: "since" }, dateTime(problem.at), " · ", h("span", { lang: "en", class: "reason" }, problem.reason)));
}

/** Sessions given a share of the site: running and not paused. */
function charging(power: SitePower): number {
  return power.chargers.filter((c) =>
    c.transaction_id !== null && !power.paused.includes(evseKey(c.station_id, c.evse_id))).length;
}

/** The header's summary: the connection, the sessions sharing it, when it was last shared out. */
function summary(site: SmartSite, power: SitePower): HTMLElement {
  const sessions = charging(power);
  return h("dl", { id: "smart-summary" },
    h("dt", {}, t("smart.connection")),
    h("dd", {}, t("smart.limit", { a: amps(site.grid_limit_a), kw: kw(site.grid_limit_kw) }),
      ` · ${number(Number(site.voltage), 0)} ${t("unit.v")}`),
    h("dt", {}, t("smart.sessions")), h("dd", { id: "smart-sessions" }, number(sessions, 0)),
    h("dt", {}, t("smart.pausedCount")), h("dd", { id: "smart-paused" }, number(power.paused.length, 0)),
    h("dt", {}, t("smart.allocatedAt")), h("dd", {}, power.allocated_at ? time(power.allocated_at) : "–"));
}

function rebalanced(power: SitePower): string {
  const connection = power.circuits.find((c) => c.circuit === CONNECTION);
  return t("smart.rebalanced", {
    time: time(power.allocated_at ?? new Date().toISOString()),
    sessions: number(charging(power), 0),
    planned: amps(connection?.planned_a ?? 0), limit: amps(connection?.limit_a ?? 0),
    paused: number(power.paused.length, 0),
  });
}

export function smartSitePage(root: HTMLElement, code: string): () => void {
  const id = encodeURIComponent(code);
  const head = h("section", { id: "smart-head" });
  const tree = h("section", { id: "circuit-tree" });
  const problems = h("section", { id: "smart-problems" });
  const result = h("p", { id: "rebalance-result", role: "status" });
  const button = h("button", { id: "rebalance", type: "button" }, t("smart.rebalance"));
  const depot = h("section", { id: "depot" });
  root.append(h("p", {}, h("a", { href: "#/smart" }, `← ${t("smart.title")}`)),
    h("h1", {}, t("smart.siteTitle", { site: code })), head,
    ...only("network:write", h("div", { class: "toolbar" }, button, result)), h("h2", {}, t("smart.tree")),
    h("p", { class: "hint" }, t("smart.treeHint")), tree, h("h2", {}, t("smart.problems")), problems, depot);

  let wiring: Wiring | null = null;
  let stations = new Set<string>();
  const draw = (power: SitePower) => {
    if (!wiring) return;
    head.replaceChildren(summary(wiring.site, power));
    tree.replaceChildren(...power.circuits.map((c) => circuitCard(c, power, wiring!)));
  };
  const drawProblems = (list: SmartProblem[]) => problems.replaceChildren(list.length === 0
    ? h("p", { id: "smart-no-problems" }, t("smart.noProblems"))
    : h("div", {}, ...list.map(problemCard)));

  let busy = false;
  const refresh = async () => {
    if (busy || !wiring) return;
    busy = true;
    try {
      const [power, list] = await Promise.all([
        api<SitePower>(`/smart/sites/${id}/power`), api<SmartProblem[]>(`/smart/sites/${id}/problems?limit=20`)]);
      draw(power);
      drawProblems(list);
    } catch (error) {
      head.replaceChildren(h("p", { class: "error" }, refusal(error)));
    } finally {
      busy = false;
    }
  };

  button.addEventListener("click", async () => {
    button.disabled = true;
    result.className = "waiting";
    result.textContent = t("smart.rebalancing");
    try {
      const power = await api<SitePower>(`/smart/sites/${id}/rebalance`, { method: "POST" });
      draw(power);
      result.className = "ok";
      result.textContent = rebalanced(power);
    } catch (error) {
      result.className = "error";
      result.textContent = refusal(error);
    } finally {
      button.disabled = false;
    }
  });

  void api<SmartSite>(`/smart/sites/${id}`).then((site) => {
    wiring = new Wiring(site);
    stations = new Set(site.evses.map((e) => e.station_id));
    if (site.depot) depot.replaceChildren(...only("network:write", depotSection(code, site)));
    return refresh();
  }).catch((error) => head.replaceChildren(h("p", { class: "error" }, refusal(error))));

  const poll = window.setInterval(() => void refresh(), POLL_MS);
  let pending: number | undefined;
  const stop = live.subscribe((event) => {
    if (!event || !stations.has(event.station_id)) return;
    clearTimeout(pending);
    pending = window.setTimeout(() => void refresh(), EVENT_SETTLE_MS);
  });
  return () => { stop(); clearInterval(poll); clearTimeout(pending); };
}
