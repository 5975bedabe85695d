// The what-if form: a night at a depot from a few numbers (POST /smart/what-if), answered in
// plain words: does everyone leave full, if not who falls short by how much, and how the
// plan's peak compares with everyone charging at full power on arrival.

import { api } from "../api";
import { h } from "../dom";
import { number, t } from "../i18n";
import { kw, refusal } from "../smart";

interface WhatIfAnswer {
  everyone_leaves_full: boolean; vehicles: number; energy_needed_kwh: number; vehicles_short: number;
  shortfall_kwh: number; worst_shortfall_kwh: number; planned_peak_kw: number; connection_kw: number;
  uncontrolled_peak_kw: number; uncontrolled_vehicles_short: number; uncontrolled_shortfall_kwh: number;
  window: { start: string; end: string };
}

const FIELDS: [string, string, string, Record<string, string | number>][] = [
  ["vehicles", "whatif.vehicles", "40", { type: "number", min: 1, max: 1000, step: 1 }],
  ["power_kw", "whatif.powerKw", "22", { type: "number", min: 0.1, step: 0.1 }],
  ["connection_kw", "whatif.connectionKw", "250", { type: "number", min: 0.1, step: 0.1 }],
  ["energy_kwh", "whatif.energyKwh", "40", { type: "number", min: 0, step: 0.1 }],
  ["base_load_kw", "whatif.baseLoadKw", "0", { type: "number", min: 0, step: 0.1 }],
  ["arrive_from", "whatif.arriveFrom", "18:00", { type: "time" }],
  ["arrive_to", "whatif.arriveTo", "23:00", { type: "time" }],
  ["depart_from", "whatif.departFrom", "05:00", { type: "time" }],
  ["depart_to", "whatif.departTo", "07:00", { type: "time" }],
];

const kwhText = (value: number) => `${number(value)} ${t("unit.kwh")}`;

/** The answer as sentences, the verdict first. */
export function answerText(a: WhatIfAnswer): HTMLElement[] {
  const verdict = a.everyone_leaves_full
    ? t("whatif.yes", { n: number(a.vehicles, 0) })
    : t("whatif.no", { short: number(a.vehicles_short, 0), n: number(a.vehicles, 0),
        kwh: kwhText(a.shortfall_kwh), worst: kwhText(a.worst_shortfall_kwh) });
  const sentences = [
    t("whatif.need", { kwh: kwhText(a.energy_needed_kwh), start: a.window.start, end: a.window.end }),
    t("whatif.peak", { peak: kw(a.planned_peak_kw), connection: kw(a.connection_kw),
      uncontrolled: kw(a.uncontrolled_peak_kw) }),
    a.uncontrolled_vehicles_short > 0
      ? t("whatif.withoutPlanShort", { n: number(a.uncontrolled_vehicles_short, 0),
          kwh: kwhText(a.uncontrolled_shortfall_kwh) })
      : t("whatif.withoutPlanFull"),
  ];
  return [
    h("p", { id: "whatif-verdict", class: a.everyone_leaves_full ? "verdict ok" : "verdict short" }, verdict),
    ...sentences.map((s) => h("p", {}, s)),
  ];
}

function body(form: HTMLFormElement): Record<string, number | string> {
  const values: Record<string, number | string> = {};
  for (const [name, , , attrs] of FIELDS) {
    const input = form.elements.namedItem(name) as HTMLInputElement;
    values[name] = attrs.type === "number" ? Number(input.value) : input.value;
  }
  return values;
}

export function whatIfForm(): HTMLElement {
  const answer = h("div", { id: "whatif-answer", "aria-live": "polite" });
  const form = h("form", { id: "whatif-form", class: "filters", onsubmit: async (e: Event) => {
    e.preventDefault();
    answer.replaceChildren(h("p", { class: "waiting" }, t("whatif.thinking")));
    try {
      const result = await api<WhatIfAnswer>("/smart/what-if", { method: "POST", body: JSON.stringify(body(form)) });
      answer.replaceChildren(...answerText(result));
    } catch (error) {
      answer.replaceChildren(h("p", { class: "error", id: "whatif-error" }, refusal(error)));
    }
  } },
    ...FIELDS.map(([name, label, value, attrs]) =>
      h("label", {}, h("span", {}, t(label)), h("input", { name, id: `whatif-${name}`, value, required: true, ...attrs }))),
    h("button", { type: "submit", id: "whatif-run" }, t("whatif.run")));
  return h("section", { id: "whatif" }, h("p", { class: "hint" }, t("whatif.hint")), form, answer);
}
