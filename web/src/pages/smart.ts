// Smart charging: the sites under load management, each opening its own view, and the what-if
// question every depot operator asks first ("40 taxis, 22 kW, 250 kW: does everyone leave full?").

import { api } from "../api";
import { h, table } from "../dom";
import { number, t } from "../i18n";
import { amps, kw, refusal, type SmartSiteSummary } from "../smart";
import { whatIfForm } from "./whatIf";
import { only } from "../permissions";

function siteRow(site: SmartSiteSummary) {
  return [
    h("a", { href: `#/smart/${encodeURIComponent(site.site)}`, "data-site": site.site }, site.site),
    site.name, site.city ?? "–",
    `${amps(site.grid_limit_a)} · ${kw(site.grid_limit_kw)}`,
    number(site.circuits, 0), number(site.evses, 0),
    site.depot ? t("smart.yes") : t("smart.no"),
  ];
}

export function smartPage(root: HTMLElement): void {
  const sites = h("section", { id: "smart-sites" }, h("p", { class: "waiting" }, t("smart.loading")));
  root.append(h("h1", {}, t("smart.title")), h("p", { class: "hint" }, t("smart.intro")), sites,
    ...only("network:write", h("h2", {}, t("whatif.title")), whatIfForm()));

  void api<SmartSiteSummary[]>("/smart/sites").then((list) => {
    sites.replaceChildren(list.length === 0
      ? h("p", { id: "smart-none" }, t("smart.noSites"))
      : table([t("smart.site"), t("smart.name"), t("smart.city"), t("smart.connection"), t("smart.circuits"),
          t("smart.evses"), t("smart.depot")], list.map(siteRow), { id: "smart-site-table" }));
  }).catch((error) => sites.replaceChildren(h("p", { class: "error" }, refusal(error))));
}
