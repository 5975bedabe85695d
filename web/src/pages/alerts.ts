// Faulted and silent stations, each with what its error code means and what to check first.

import { api } from "../api";
import { h } from "../dom";
import { dateTime, t } from "../i18n";
import { live } from "../live";

interface Explanation { source: string; severity: string; meaning: string; check: string }
let table: Promise<Record<string, Explanation>> | null = null;

interface Alert { station: string; connector: string; code: string; since: string | null }

function alerts(): Alert[] {
  const found: Alert[] = [];
  for (const [id, s] of Object.entries(live.stations).sort()) {
    if (!s.online) {
      found.push({ station: id, connector: "–", code: s.last_seen_at ? "Offline" : "NeverConnected", since: s.last_seen_at });
      continue;
    }
    if (s.error_code && s.error_code !== "NoError")
      found.push({ station: id, connector: "0", code: s.error_code, since: null });
    for (const c of s.connectors) {
      if (c.status === "Faulted" || (c.error_code && c.error_code !== "NoError"))
        found.push({ station: id, connector: `${c.evse_id}/${c.connector_id}`, code: c.error_code ?? "OtherError", since: c.status_at });
    }
  }
  const rank = (a: Alert) => (a.code === "NeverConnected" ? 2 : a.code === "Offline" ? 1 : 0);
  return found.sort((a, b) => rank(a) - rank(b));
}

export function alertsPage(root: HTMLElement): () => void {
  const list = h("div", { id: "alerts" });
  root.append(h("h1", {}, t("nav.alerts")), list);
  table ??= api<{ codes: Record<string, Explanation> }>("/console/error-codes").then((r) => r.codes);

  const paint = async () => {
    const codes = await table!;
    const current = alerts();
    list.replaceChildren(...(current.length === 0 ? [h("p", {}, t("alerts.none"))] : current.map((a) => {
      const known = codes[a.code];
      const explanation = known ?? codes.OtherError;
      return h("article", { class: `alert ${explanation.severity}`, "data-station": a.station },
        h("h2", {}, h("a", { href: `#/stations/${encodeURIComponent(a.station)}` }, a.station),
          ` · ${t("col.connector")} ${a.connector} · `, h("code", {}, a.code)),
        a.since ? h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(a.since)}`) : null,
        h("p", {}, h("strong", {}, `${t("alerts.meaning")}: `), known ? known.meaning : t("alerts.unknown")),
        h("p", {}, h("strong", {}, `${t("alerts.check")}: `), explanation.check),
      );
    })));
  };
  void paint();
  return live.subscribe(() => void paint());
}
