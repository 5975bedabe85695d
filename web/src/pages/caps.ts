// Price-cap compliance per operator (GET /cap-compliance): for a regulator across every tenant,
// for a tenant's people their own operators. Aggregates only: sites, tariffs checked,
// violations; no driver, email or idToken is asked for or shown.

import { api } from "../api";
import { h, table } from "../dom";
import { money, number, t } from "../i18n";

interface Compliance {
  tenant: string; tenant_name: string; operator: string; operator_name: string; country: string;
  cap: string; jurisdiction: string; cap_per_kwh_incl_vat: string; currency: string;
  sites: number; tariffs: number; suspended_tariffs: number; violations: number;
}

export function capsPage(root: HTMLElement): void {
  const holder = h("div", {}, h("p", {}, "…"));
  root.append(h("h1", {}, t("caps.title")), h("p", { class: "hint" }, t("caps.hint")), holder);
  void api<Compliance[]>("/cap-compliance").then((rows) => holder.replaceChildren(rows.length === 0
    ? h("p", { id: "caps-empty" }, t("caps.none"))
    : table([t("caps.operator"), t("caps.tenant"), t("caps.country"), t("caps.cap"), t("caps.sites"),
      t("caps.tariffs"), t("caps.violations")],
      rows.map((row) => [
        h("span", { "data-operator": row.operator }, row.operator_name, " ", h("code", {}, row.operator)),
        h("span", { "data-tenant": row.tenant }, row.tenant_name),
        row.country,
        h("span", { title: row.cap }, `${row.jurisdiction}: ${money(row.cap_per_kwh_incl_vat, row.currency)}/${t("unit.kwh")}`),
        number(row.sites, 0),
        number(row.tariffs, 0),
        h("span", { class: row.violations ? "violations some" : "violations none", "data-violations": row.violations },
          row.violations ? t("caps.broken", { tariffs: number(row.suspended_tariffs, 0), sites: number(row.violations, 0) })
            : t("caps.compliant")),
      ]),
      { id: "compliance-table" })))
    .catch(() => holder.replaceChildren(h("p", { class: "error" }, t("common.error"))));
}
