// Provisioning on the station page: device-model reports (OCPP 2.0.1 B07, B08), where the
// station connects (B09 a network profile in a slot, B10 a move to another CSMS), and what it
// measured outside any session (J01, both versions). Every action is an operator API call
// (api/device.py, api/network.py, api/operator.py); the page re-reads after each.

import { api } from "../api";
import { h, table } from "../dom";
import { problemText } from "../problems";
import { dateTime, t, time } from "../i18n";
import { speaks201 } from "../ocpp";

interface Report {
  request_id: number; asked: Record<string, unknown> | null; status: string | null; complete: boolean;
  parts_received: number; created_at: string;
  items: { key: string; values: Record<string, string>; unit: string | null }[] | null;
}
interface NetworkChange {
  id: number; action: string; configuration_slot: number; connection_data: Record<string, unknown>;
  status: string | null; steps: { action: string; status: string }[]; reason: string | null; created_at: string;
}
interface MeterValue {
  id: number; evse_id: number; timestamp: string; measurand: string; phase: string; context: string;
  unit: string | null; value: string;
}

const BASES = ["", "ConfigurationInventory", "FullInventory", "SummaryInventory"];
const CRITERIA = ["Active", "Available", "Enabled", "Problem"];
const INTERFACES = ["Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"];
const SHOWN_ITEMS = 50;

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label", {}, h("span", {}, label), input);
}

function select(name: string, options: string[], labels: (o: string) => string = (o) => o): HTMLSelectElement {
  return h("select", { name }, ...options.map((o) => h("option", { value: o }, labels(o))));
}

function outcome(target: HTMLElement, work: () => Promise<string>): Promise<void> {
  target.className = "reply waiting";
  target.textContent = t("station.waiting");
  return work().then((text) => {
    target.className = "reply ok";
    target.textContent = text;
  }, (error) => {
    target.className = "reply failed";
    target.textContent = problemText(error);
  });
}

function askedText(asked: Record<string, unknown> | null): string {
  if (!asked) return t("device.unsolicited");
  if (asked.base) return String(asked.base);
  const criteria = (asked.criteria as string[] | undefined) ?? [];
  const components = ((asked.components as { component: string; variable?: string }[] | undefined) ?? [])
    .map((c) => (c.variable ? `${c.component}.${c.variable}` : c.component));
  return [...components, ...criteria].join(", ") || t("provisioning.everything");
}

export interface ProvisioningSections { element: HTMLElement; load: (version: string | null) => Promise<void> }

export function provisioningSections(stationId: string, changed: () => void): ProvisioningSections {
  const base = `/stations/${encodeURIComponent(stationId)}`;
  const reports = h("div", { id: "report-list" });
  const network = h("div", { id: "network-change-list" });
  const meters = h("div", { id: "meter-value-list" });

  // -- reports (B07, B08) ---------------------------------------------------------------------
  const reportReply = h("pre", { class: "reply", id: "report-reply", "aria-live": "polite" });
  const reportForm = h("form", { class: "command device-form", id: "report-form", onsubmit: (e: Event) => {
    e.preventDefault();
    const form = reportForm as HTMLFormElement;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    const body: Record<string, unknown> = {};
    if (value("base")) body.base = value("base");
    else {
      body.criteria = CRITERIA.filter((c) => (form.elements.namedItem(`criterion-${c}`) as HTMLInputElement).checked);
      if (value("component")) {
        body.components = [{ component: value("component"), ...(value("variable") ? { variable: value("variable") } : {}) }];
      }
    }
    void outcome(reportReply, async () => {
      const request = await api<Report>(`${base}/reports`, { method: "POST", body: JSON.stringify(body) });
      return `${t("station.reply")}: ${request.status ?? "–"} (#${request.request_id})`;
    }).then(changed);
  } },
    h("p", { class: "hint" }, t("provisioning.reportHint")),
    field(t("provisioning.reportBase"), select("base", BASES, (b) => (b ? b : t("provisioning.customReport")))),
    field(t("device.component"), h("input", { name: "component", maxlength: 50, placeholder: "OCPPCommCtrlr" })),
    field(t("device.variable"), h("input", { name: "variable", maxlength: 50 })),
    ...CRITERIA.map((c) => field(t(`provisioning.criterion${c}`), h("input", { name: `criterion-${c}`, type: "checkbox" }))),
    h("button", { type: "submit", id: "report-ask" }, t("provisioning.askReport")),
    reportReply,
  );

  // -- network profiles (B09) and a move to another CSMS (B10) --------------------------------
  const networkReply = h("pre", { class: "reply", id: "network-reply", "aria-live": "polite" });
  const networkBody = () => {
    const form = networkForm as HTMLFormElement;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    const body: Record<string, unknown> = {
      ocpp_csms_url: value("ocpp_csms_url"), security_profile: Number(value("security_profile")),
      ocpp_interface: value("ocpp_interface"),
    };
    if (value("configuration_slot")) body.configuration_slot = Number(value("configuration_slot"));
    return body;
  };
  const sendNetwork = (path: string) => void outcome(networkReply, async () => {
    const change = await api<NetworkChange>(`${base}/${path}`, { method: "POST", body: JSON.stringify(networkBody()) });
    return [`${t("station.reply")}: ${change.status ?? "–"}`,
      ...change.steps.map((step) => `${step.action}: ${step.status}`)].join("\n");
  }).then(changed);
  const networkForm = h("form", { class: "command device-form", id: "network-form", onsubmit: (e: Event) => {
    e.preventDefault();
    sendNetwork("network-profiles");
  } },
    h("p", { class: "hint" }, t("provisioning.networkHint")),
    field(t("provisioning.csmsUrl"), h("input", { name: "ocpp_csms_url", required: true, maxlength: 512,
      placeholder: "wss://csms.example.kz/ocpp" })),
    field(t("station.securityProfile"), select("security_profile", ["1", "2", "3"], (p) => t(`station.profile${p}`))),
    field(t("provisioning.slot"), h("input", { name: "configuration_slot", type: "number", min: 0, max: 99 })),
    field(t("provisioning.interface"), select("ocpp_interface", INTERFACES)),
    h("button", { type: "submit", id: "network-set" }, t("provisioning.writeProfile")),
    h("button", { type: "button", id: "network-migrate", onclick: () => {
      if (window.confirm(t("provisioning.migrateConfirm"))) sendNetwork("csms-migration");
    } }, t("provisioning.migrate")),
    networkReply,
  );

  const reportsSection = h("section", { id: "reports" }, h("h2", {}, t("provisioning.reports")), reports, reportForm);
  const networkSection = h("section", { id: "network-profiles" },
    h("h2", {}, t("provisioning.network")), network, networkForm);
  const element = h("div", { id: "provisioning" }, reportsSection, networkSection,
    h("section", { id: "meter-values" }, h("h2", {}, t("provisioning.meterValues")), meters));

  const showReports = async () => {
    const rows = await api<Report[]>(`${base}/reports`);
    const latest = rows.find((r) => r.complete && r.parts_received > 0);
    const detail = latest ? await api<Report>(`${base}/reports/${latest.request_id}`) : null;
    const items = detail?.items ?? [];
    const list = rows.length === 0 ? h("p", {}, t("provisioning.noReports")) : table(
      ["#", t("col.time"), t("device.asked"), t("col.status"), t("device.received")],
      rows.slice(0, 10).map((r) => [String(r.request_id), dateTime(r.created_at), askedText(r.asked), r.status ?? "–",
        r.complete ? String(r.parts_received) : t("device.waitingParts", { n: r.parts_received })]),
      { id: "report-table" });
    if (!detail) {
      reports.replaceChildren(list);
      return;
    }
    reports.replaceChildren(list,
      h("h3", {}, t("provisioning.reported", { id: detail.request_id, n: items.length })),
      table([t("col.key"), t("col.value"), t("provisioning.unit")],
        items.slice(0, SHOWN_ITEMS).map((i) => [h("code", {}, i.key),
          Object.entries(i.values).map(([kind, v]) => (kind === "Actual" ? v : `${kind}: ${v}`)).join(" · ") || "–",
          i.unit ?? ""]),
        { id: "report-items" }));
  };

  const showNetwork = async () => {
    const rows = await api<NetworkChange[]>(`${base}/network-profiles`);
    network.replaceChildren(rows.length === 0 ? h("p", {}, t("provisioning.noNetworkChanges")) : table(
      [t("col.time"), t("col.action"), t("provisioning.slot"), t("provisioning.csmsUrl"), t("col.status"), t("col.reason")],
      rows.map((c) => [dateTime(c.created_at), t(`provisioning.action${c.action}`), String(c.configuration_slot),
        h("code", {}, String(c.connection_data.ocppCsmsUrl ?? "")), c.status ?? "–",
        c.reason ?? c.steps.map((s) => `${s.action}: ${s.status}`).join(", ")]),
      { id: "network-change-table" }));
  };

  const showMeters = async () => {
    const rows = await api<MeterValue[]>(`${base}/meter-values?limit=30`);
    meters.replaceChildren(rows.length === 0 ? h("p", {}, t("provisioning.noMeterValues")) : table(
      [t("col.time"), "EVSE", t("provisioning.measurand"), t("col.value"), t("provisioning.context")],
      rows.map((m) => [time(m.timestamp), String(m.evse_id), `${m.measurand}${m.phase ? ` ${m.phase}` : ""}`,
        `${m.value} ${m.unit ?? ""}`.trim(), m.context]),
      { id: "meter-value-table" }));
  };

  const load = async (version: string | null) => {
    const modern = speaks201(version);
    reportsSection.hidden = networkSection.hidden = !modern;
    await Promise.all([showMeters(), ...(modern ? [showReports(), showNetwork()] : [])]);
  };
  return { element, load };
}
