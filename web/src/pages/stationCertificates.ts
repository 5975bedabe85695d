// A station's certificates on its page: what silkcharge's CA signed for it, the roots installed
// on it and what it last reported, with renewal, a fresh report and deletion.

import { api } from "../api";
import { h, table } from "../dom";
import { problemText } from "../problems";
import { dateTime, t } from "../i18n";

interface Certificate {
  id: number; certificate_type: string; source: string; status: string; subject: string | null;
  serial_number: string; not_after: string | null;
}

// Shown as expiring within this many days; the server's own list uses its setting.
const EXPIRING_DAYS = 30;

export function certificatesSection(stationId: string): {
  element: HTMLElement; load: (version: string | null) => Promise<void>;
} {
  const id = encodeURIComponent(stationId);
  let version: string | null = null;
  const list = h("div", { id: "certificate-list" });
  const reply = h("pre", { class: "reply", id: "certificate-reply", "aria-live": "polite" });

  const act = async (path: string, init: RequestInit) => {
    reply.className = "reply waiting";
    reply.textContent = t("station.waiting");
    try {
      const result = await api<{ action: string; status: string | null }>(path, init);
      reply.className = "reply ok";
      reply.textContent = `${result.action}: ${result.status ?? "–"}`;
    } catch (error) {
      reply.className = "reply failed";
      reply.textContent = problemText(error);
    }
    await load(version);
  };

  const load = async (ocppVersion: string | null) => {
    version = ocppVersion;
    let rows: Certificate[];
    try {
      rows = await api<Certificate[]>(`/stations/${id}/certificates`);
    } catch {
      list.replaceChildren(h("p", { class: "error" }, t("common.error")));
      return;
    }
    const soon = Date.now() + EXPIRING_DAYS * 86_400_000;
    list.replaceChildren(rows.length === 0 ? h("p", {}, t("station.certNone")) : table(
      [t("station.certType"), t("station.certSubject"), t("col.status"), t("station.certExpires"), ""],
      rows.map((c) => [
        c.certificate_type, c.subject ?? `#${c.serial_number}`,
        h("span", { class: `status ${c.status}` }, c.status),
        c.not_after ? h("span", { class: Date.parse(c.not_after) < soon ? "expiring" : "" },
          dateTime(c.not_after), Date.parse(c.not_after) < soon ? ` · ${t("station.certExpiring")}` : "") : "–",
        c.certificate_type === "ChargingStationCertificate" ? "" : h("button", {
          type: "button", class: "delete-certificate", "data-certificate": c.id,
          onclick: () => void act(`/stations/${id}/certificates/${c.id}`, { method: "DELETE" }),
        }, t("station.certDelete")),
      ]),
      { id: "certificate-table" },
    ));
  };

  const element = h("section", { id: "certificates" },
    h("h2", {}, t("station.certificates")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "certificate-renew",
        onclick: () => void act(`/stations/${id}/certificates/renew`, { method: "POST" }) }, t("station.certRenew")),
      h("button", { type: "button", id: "certificate-refresh",
        onclick: () => void act(`/stations/${id}/certificates/refresh`,
          // A 1.6 station reports one type per request; a 2.0.1 station every type at once.
          { method: "POST", body: JSON.stringify({ certificate_types: version === "1.6" ? ["CSMSRootCertificate"] : [] }) }) },
        t("station.certRefresh")),
    ),
    list, reply,
  );
  return { element, load };
}
