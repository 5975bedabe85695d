// A 2.0.1 station's monitors and their events, the messages on its screen, and what it holds
// about a customer (OCPP 2.0.1 blocks N and O), on the station page. Every action is an
// operator API call (api/device.py); the page re-reads after each and on live events.

import { api } from "../api";
import { h, table } from "../dom";
import { problemText } from "../problems";
import { LANGUAGES, dateTime, t, time } from "../i18n";

interface Monitor {
  monitor_id: number; component: string; component_instance: string | null; evse_id: number | null;
  connector_id: number | null; variable: string; variable_instance: string | null; type: string;
  value: string; severity: number; transaction: boolean; source: string;
}
interface DeviceEvent {
  id: number; occurred_at: string; trigger: string; actual_value: string; cleared: boolean | null;
  component: string; evse_id: number | null; connector_id: number | null; variable: string;
  variable_monitoring_id: number | null; severity: number | null; severity_name: string | null;
}
interface DisplayMessage {
  message_id: number; group_id: number | null; priority: string; state: string | null;
  ends_at: string | null; language: string | null; content: string; source: string;
}
interface CustomerRequest {
  request_id: number; asked: Record<string, unknown> | null; status: string | null; complete: boolean;
  data: string | null; parts_received: number; created_at: string;
}

const MONITOR_TYPES = ["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"];
const PRIORITIES = ["NormalCycle", "InFront", "AlwaysFront"];
const STATES = ["", "Idle", "Charging", "Faulted", "Unavailable"];
const SEVERITIES = ["Danger", "HardwareFailure", "SystemFailure", "Critical", "Error", "Alert", "Warning",
  "Notice", "Informational", "Debug"];

function where(m: { component: string; evse_id: number | null; connector_id: number | null; variable: string }): string {
  const place = m.evse_id === null ? "" : `@${m.evse_id}${m.connector_id === null ? "" : `/${m.connector_id}`}`;
  return `${m.component}${place}.${m.variable}`;
}

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label", {}, h("span", {}, label), input);
}

function select(name: string, options: string[], labels: (o: string) => string = (o) => o): HTMLSelectElement {
  return h("select", { name }, ...options.map((o) => h("option", { value: o }, labels(o))));
}

function severity(value: number | null): HTMLElement {
  if (value === null) return h("span", { class: "severity unknown" }, t("device.monitorUnknown"));
  return h("span", { class: `severity s${value}` }, `${value} · ${t(`device.severity${SEVERITIES[value]}`)}`);
}

/** What the station answered, or why the request failed, under a form. */
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

/** A customer-information request as a person reads it: who, and what was asked. */
function asked(request: Record<string, unknown> | null): string {
  if (!request) return t("device.unsolicited");
  const who = request.id_token ? `${t("device.idToken")}: ${request.id_token}`
    : request.customer_identifier ? `${t("device.customerIdentifier")}: ${request.customer_identifier}`
      : t("device.certificate");
  const what = [request.report ? t("device.report") : null, request.clear ? t("device.clear") : null].filter(Boolean);
  return `${who} · ${what.join(", ")}`;
}

export interface DeviceSections { element: HTMLElement; load: () => Promise<void> }

export function deviceSections(stationId: string, changed: () => void): DeviceSections {
  const id = encodeURIComponent(stationId);
  const base = `/stations/${id}`;
  const monitors = h("div", { id: "monitor-list" });
  const events = h("div", { id: "device-event-list" });
  const messages = h("div", { id: "display-message-list" });
  const customers = h("div", { id: "customer-request-list" });

  // -- monitors ------------------------------------------------------------------------------
  const monitorReply = h("pre", { class: "reply", id: "monitor-reply", "aria-live": "polite" });
  const monitorForm = h("form", { class: "command device-form", id: "monitor-form", onsubmit: (e: Event) => {
    e.preventDefault();
    const form = monitorForm as HTMLFormElement;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    const number = (name: string) => (value(name) === "" ? null : Number(value(name)));
    const body = { monitors: [{
      component: value("component"), variable: value("variable"), evse_id: number("evse_id"),
      connector_id: number("connector_id"), type: value("type"), value: value("value"),
      severity: Number(value("severity")),
    }] };
    void outcome(monitorReply, async () => {
      const result = await api<{ status: string; results: { status: string; id: number | null }[] }>(
        `${base}/monitors`, { method: "POST", body: JSON.stringify(body) });
      return result.results.map((r) => `${t("station.reply")}: ${r.status}${r.id ? ` (#${r.id})` : ""}`).join("\n");
    }).then(changed);
  } },
    field(t("device.component"), h("input", { name: "component", required: true, value: "ChargingStation" })),
    field(t("device.variable"), h("input", { name: "variable", required: true, value: "Power" })),
    field(t("device.evse"), h("input", { name: "evse_id", type: "number", min: 0 })),
    field(t("device.connector"), h("input", { name: "connector_id", type: "number", min: 1 })),
    field(t("device.monitorType"), select("type", MONITOR_TYPES)),
    field(t("device.threshold"), h("input", { name: "value", required: true, value: "7000" })),
    field(t("device.severity"), (() => {
      const chosen = select("severity", SEVERITIES.map((_, i) => String(i)), (o) => `${o} · ${t(`device.severity${SEVERITIES[Number(o)]}`)}`);
      chosen.value = "4";
      return chosen;
    })()),
    h("button", { type: "submit", id: "monitor-set" }, t("device.setMonitor")),
    h("button", { type: "button", id: "monitor-report", onclick: () => void outcome(monitorReply, async () => {
      const request = await api<{ status: string | null }>(`${base}/monitoring-reports`, { method: "POST", body: "{}" });
      return `${t("station.reply")}: ${request.status ?? "–"}`;
    }).then(changed) }, t("device.requestReport")),
    monitorReply,
  );

  const clearMonitor = (monitorId: number) => void outcome(monitorReply, async () => {
    const result = await api<{ status: string }>(`${base}/monitors/${monitorId}`, { method: "DELETE" });
    return `${t("station.reply")}: ${result.status}`;
  }).then(changed);

  // -- display messages ----------------------------------------------------------------------
  const messageReply = h("pre", { class: "reply", id: "display-reply", "aria-live": "polite" });
  const messageForm = h("form", { class: "command device-form", id: "display-form", onsubmit: (e: Event) => {
    e.preventDefault();
    const form = messageForm as HTMLFormElement;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    const texts: Record<string, string> = {};
    for (const code of Object.keys(LANGUAGES)) if (value(`text-${code}`)) texts[code] = value(`text-${code}`);
    const body: Record<string, unknown> = { texts, priority: value("priority") };
    if (value("state")) body.state = value("state");
    if (value("ends_at")) body.ends_at = new Date(value("ends_at")).toISOString();
    if (value("transaction_id")) body.transaction_id = Number(value("transaction_id"));
    void outcome(messageReply, async () => {
      const result = await api<{ languages: string[]; refused: Record<string, string> }>(
        `${base}/display-messages`, { method: "POST", body: JSON.stringify(body) });
      const refused = Object.entries(result.refused).map(([l, s]) => `${l}: ${s}`).join(", ");
      return `${t("device.sentIn", { languages: result.languages.join(", ") })}${refused ? `\n${refused}` : ""}`;
    }).then(changed);
  } },
    h("p", { class: "hint" }, t("device.languagesHint")),
    ...Object.keys(LANGUAGES).map((code) => field(t(`language.${code}`),
      h("textarea", { name: `text-${code}`, rows: 1, maxlength: 512, lang: code }))),
    field(t("device.priority"), select("priority", PRIORITIES, (p) => t(`device.priority${p}`))),
    field(t("device.state"), select("state", STATES, (s) => (s ? t(`device.state${s}`) : t("device.anyState")))),
    field(t("device.until"), h("input", { name: "ends_at", type: "datetime-local" })),
    field(t("device.transaction"), h("input", { name: "transaction_id", type: "number", min: 1 })),
    h("button", { type: "submit", id: "display-send" }, t("device.sendMessage")),
    h("button", { type: "button", id: "display-report", onclick: () => void outcome(messageReply, async () => {
      const request = await api<{ status: string | null }>(`${base}/display-messages/report`, { method: "POST", body: "{}" });
      return `${t("station.reply")}: ${request.status ?? "–"}`;
    }).then(changed) }, t("device.requestMessages")),
    messageReply,
  );

  const clearMessage = (messageId: number) => void outcome(messageReply, async () => {
    const result = await api<{ cleared: { message_id: number; status: string }[] }>(
      `${base}/display-messages/${messageId}`, { method: "DELETE" });
    return result.cleared.map((c) => `#${c.message_id}: ${c.status}`).join("\n");
  }).then(changed);

  // -- customer information -----------------------------------------------------------------
  const customerReply = h("pre", { class: "reply", id: "customer-reply", "aria-live": "polite" });
  const customerForm = h("form", { class: "command device-form", id: "customer-form", onsubmit: (e: Event) => {
    e.preventDefault();
    const form = customerForm as HTMLFormElement;
    const input = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
    const body: Record<string, unknown> = { report: input("report").checked, clear: input("clear").checked };
    if (input("id_token").value.trim()) body.id_token = input("id_token").value.trim();
    if (input("customer_identifier").value.trim()) body.customer_identifier = input("customer_identifier").value.trim();
    void outcome(customerReply, async () => {
      const request = await api<{ request_id: number; status: string | null }>(
        `${base}/customer-information`, { method: "POST", body: JSON.stringify(body) });
      return `${t("station.reply")}: ${request.status ?? "–"} (#${request.request_id})`;
    }).then(changed);
  } },
    h("p", { class: "hint" }, t("device.customerHint")),
    field(t("device.idToken"), h("input", { name: "id_token", maxlength: 36 })),
    field(t("device.customerIdentifier"), h("input", { name: "customer_identifier", maxlength: 64 })),
    field(t("device.report"), h("input", { name: "report", type: "checkbox", checked: true })),
    field(t("device.clear"), h("input", { name: "clear", type: "checkbox" })),
    h("button", { type: "submit", id: "customer-ask" }, t("device.askCustomer")),
    customerReply,
  );

  const element = h("div", { id: "device" },
    h("section", { id: "monitors" }, h("h2", {}, t("device.monitors")), monitors, monitorForm),
    h("section", { id: "device-events" }, h("h2", {}, t("device.events")), events),
    h("section", { id: "display-messages" }, h("h2", {}, t("device.displayMessages")), messages, messageForm),
    h("section", { id: "customer-information" }, h("h2", {}, t("device.customerInformation")), customers, customerForm),
  );

  const load = async () => {
    const [monitorRows, eventRows, messageRows, customerRows] = await Promise.all([
      api<Monitor[]>(`${base}/monitors`),
      api<DeviceEvent[]>(`${base}/device-events?monitored=true&limit=20`),
      api<DisplayMessage[]>(`${base}/display-messages`),
      api<CustomerRequest[]>(`${base}/customer-information`),
    ]);
    monitors.replaceChildren(monitorRows.length === 0 ? h("p", {}, t("device.noMonitors")) : table(
      ["#", t("device.variable"), t("device.monitorType"), t("device.threshold"), t("device.severity"),
        t("device.source"), ""],
      monitorRows.map((m) => [String(m.monitor_id), h("code", {}, where(m)), m.type, m.value, severity(m.severity),
        t(`device.source${m.source === "csms" ? "Csms" : "Station"}`),
        h("button", { class: "clear-monitor", "data-monitor": m.monitor_id, onclick: () => clearMonitor(m.monitor_id) },
          t("device.clearMonitor"))]),
      { id: "monitor-table" }));
    events.replaceChildren(eventRows.length === 0 ? h("p", {}, t("device.noEvents")) : table(
      [t("col.time"), t("device.variable"), t("col.value"), "#", t("device.severity"), ""],
      eventRows.map((e) => [time(e.occurred_at), h("code", {}, where(e)), e.actual_value,
        e.variable_monitoring_id === null ? "–" : String(e.variable_monitoring_id), severity(e.severity),
        e.cleared ? t("device.cleared") : e.trigger === "Alerting" ? t("device.alerting") : e.trigger]),
      { id: "device-event-table" }));
    messages.replaceChildren(messageRows.length === 0 ? h("p", {}, t("device.noMessages")) : table(
      ["#", t("device.language"), t("device.message"), t("device.priority"), t("device.until"), ""],
      messageRows.map((m) => [String(m.message_id), m.language ?? "–", h("span", { lang: m.language ?? undefined }, m.content),
        t(`device.priority${m.priority}`), dateTime(m.ends_at),
        h("button", { class: "clear-message", "data-message": m.message_id, onclick: () => clearMessage(m.message_id) },
          t("device.clearMessage"))]),
      { id: "display-message-table" }));
    customers.replaceChildren(customerRows.length === 0 ? h("p", {}, t("device.noCustomerRequests")) : table(
      [t("col.time"), t("device.asked"), t("col.status"), t("device.received")],
      customerRows.map((r) => [dateTime(r.created_at), asked(r.asked),
        `${r.status ?? "–"}${r.complete ? "" : ` · ${t("device.waitingParts", { n: r.parts_received })}`}`,
        r.data ? h("pre", { class: "customer-data" }, r.data) : "–"]),
      { id: "customer-request-table" }));
  };
  return { element, load };
}
