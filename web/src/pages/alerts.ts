// Faulted and silent stations, each with what its error code means and what to check first,
// in the console's language where the table has it, else visibly in English.

import { api } from "../api";
import { h } from "../dom";
import { LANGUAGES, dateTime, language, t } from "../i18n";
import { live } from "../live";

interface Text { meaning: string; check: string }
interface Explanation extends Text { source: string; severity: string; i18n?: Record<string, Text> }

/** The explanation in the current language, and whether it had to fall back to English. */
function translated(entry: Explanation): Text & { english: boolean } {
  const own = language === "en" ? entry : entry.i18n?.[language];
  return own ? { ...own, english: false } : { meaning: entry.meaning, check: entry.check, english: true };
}
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
  const untranslated = h("p", { id: "untranslated", class: "hint" });
  root.append(h("h1", {}, t("nav.alerts")), untranslated, list);
  table ??= api<{ codes: Record<string, Explanation> }>("/console/error-codes").then((r) => r.codes);

  const paint = async () => {
    const codes = await table!;
    const missing = Object.keys(codes).filter((code) => translated(codes[code]).english).sort();
    untranslated.textContent = language === "en" || missing.length === 0 ? ""
      : t("alerts.untranslated", { language: LANGUAGES[language] ? t(`language.${language}`) : language, codes: missing.join(", ") });
    const current = alerts();
    list.replaceChildren(...(current.length === 0 ? [h("p", {}, t("alerts.none"))] : current.map((a) => {
      const known = codes[a.code];
      const explanation = translated(known ?? codes.OtherError);
      const lang = explanation.english ? "en" : undefined;
      return h("article", { class: `alert ${(known ?? codes.OtherError).severity}`, "data-station": a.station },
        h("h2", {}, h("a", { href: `#/stations/${encodeURIComponent(a.station)}` }, a.station),
          ` · ${t("col.connector")} ${a.connector} · `, h("code", {}, a.code)),
        a.since ? h("p", { class: "since" }, `${t("alerts.since")} ${dateTime(a.since)}`) : null,
        h("p", { class: "meaning" }, h("strong", {}, `${t("alerts.meaning")}: `),
          known ? h("span", { lang, class: lang ? "in-english" : undefined }, explanation.meaning) : t("alerts.unknown")),
        h("p", { class: "check" }, h("strong", {}, `${t("alerts.check")}: `),
          h("span", { lang, class: lang ? "in-english" : undefined }, explanation.check)),
      );
    })));
  };
  void paint();
  return live.subscribe(() => void paint());
}
