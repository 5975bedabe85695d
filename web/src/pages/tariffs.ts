// The tenant's published tariffs (GET /tariffs): code, where it applies, its currency and price
// components, each price excl. VAT with the VAT rate, as the OCPI body says. Reading needs
// money:read (permissions.ts PAGES); publishing stays in the API.

import { api } from "../api";
import { h, table } from "../dom";
import { money, t } from "../i18n";

interface Component { type: string; price: string; vat?: number; step_size?: number }
interface Tariff {
  code: string; operator_id: number; site_id: number | null;
  tariff: { currency: string; elements: { price_components: Component[] }[] };
}

function components(tariff: Tariff): HTMLElement {
  const all = tariff.tariff.elements.flatMap((e) => e.price_components);
  return h("ul", { class: "components" }, ...all.map((c) => h("li", { "data-type": c.type },
    `${t(`tariffs.component.${c.type}`)}: ${money(c.price, tariff.tariff.currency)}`,
    c.vat !== undefined ? ` + ${c.vat} % ${t("tariffs.vat")}` : "")));
}

export function tariffsPage(root: HTMLElement): void {
  const holder = h("div", {}, h("p", {}, "…"));
  root.append(h("h1", {}, t("nav.tariffs")), h("p", { class: "hint" }, t("tariffs.hint")), holder);
  void api<Tariff[]>("/tariffs").then((list) => holder.replaceChildren(list.length === 0
    ? h("p", { id: "tariffs-none" }, t("common.empty"))
    : table([t("tariffs.code"), t("tariffs.where"), t("tariffs.currency"), t("tariffs.prices")],
      list.map((row) => [h("code", {}, row.code), row.site_id === null ? t("tariffs.network") : t("tariffs.oneSite"),
        row.tariff.currency, components(row)]),
      { id: "tariff-table" })))
    .catch(() => holder.replaceChildren(h("p", { class: "error" }, t("common.error"))));
}
