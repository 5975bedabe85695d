// One station: connectors, current session, its profile (what it supports and needs), commands
// with the station's reply, recent OCPP messages and configuration. Everything but the command forms follows live events.

import { ApiError, api } from "../api";
import { h, table } from "../dom";
import { problemCode, problemText } from "../problems";
import { dateTime, known, kwh, number, t, time } from "../i18n";
import { live, stateOf } from "../live";
import { speaks201 } from "../ocpp";
import { can, commandNeeds, only } from "../permissions";
import type { Transaction } from "./dashboard";
import { standardName } from "./find";
import { certificatesSection } from "./stationCertificates";
import { type StationSecurity, securitySection } from "./stationSecurity";
import { deviceSections } from "./stationDevice";
import { provisioningSections } from "./stationProvisioning";
import { smartSection } from "./stationSmart";

interface Connector {
  evse_id: number; connector_id: number; standard: string; max_power_kw: string; status: string;
  error_code: string | null; vendor_error_code: string | null; info: string | null; status_at: string | null;
}
interface Station extends StationSecurity {
  id: string; ocpp_version: string | null; vendor: string | null; model: string | null;
  firmware_version: string | null; online: boolean; last_seen_at: string | null;
  moved_to: string | null; moved_at: string | null;
  configuration: Record<string, unknown> | null; connectors: Connector[];
  profile: Profile | null; registration_status: string;
}
const REGISTRATIONS = ["Accepted", "Pending", "Rejected"];

/** B02 / B03: whether the CSMS accepts the station at its next boot, and the buttons that change it. */
function registration(stationId: string, status: string, changed: () => void): HTMLElement {
  const set = (wanted: string) => void api(`/stations/${encodeURIComponent(stationId)}`, {
    method: "PATCH", body: JSON.stringify({ registration_status: wanted }),
  }).then(changed);
  return h("dd", { id: "registration" },
    h("span", { class: `registration ${status}`, id: "registration-status" }, t(`station.registration${status}`)),
    ...only("network:write", ...REGISTRATIONS).filter((other) => other !== status).map((other) =>
      h("button", { type: "button", id: `registration-${other}`, onclick: () => set(other) },
        t(`station.register${other}`))));
}
// The station's effective profile: each fact with the profile or configuration key it came from.
interface Profile { profiles: string[]; facts: Record<string, { value: unknown; source: string }> }
interface Message { id: number; direction: string; action: string | null; payload: string; error_code: string | null; at: string }

type Schema = { type?: string; enum?: string[]; format?: string; anyOf?: Schema[]; items?: Schema; $ref?: string; default?: unknown };
type CommandSchemas = Record<string, { properties?: Record<string, Schema>; required?: string[] }>;

let schemas: Promise<CommandSchemas> | null = null;

function plain(schema: Schema): Schema {
  return schema.anyOf?.find((s) => s.type !== "null") ?? schema;
}

/** The console's words for a command, parameter or option, or its OCPP/API name when there are
 * none yet (tests/web/test_command_titles.py fails until every language has them). */
function words(key: string, fallback: string): string {
  return known(key) ? t(key) : fallback;
}

/** The name technicians and the API docs use, shown small beside the words. */
function apiName(name: string): HTMLElement {
  return h("code", { class: "api-name", title: t("station.apiName") }, name);
}

// The command forms in groups, in this order; a command not listed here goes under "Other".
const COMMAND_GROUPS: Record<string, string[]> = {
  charging: ["remote_start", "remote_stop", "unlock_connector", "reserve_now", "cancel_reservation",
    "allowed_energy_transfer", "get_transaction_status", "web_payment_started"],
  maintenance: ["change_availability", "reset", "clear_cache", "trigger_message", "data_transfer"],
  firmware: ["update_firmware", "get_diagnostics", "publish_firmware", "unpublish_firmware"],
  configuration: ["get_configuration", "set_configuration", "set_configuration_values", "get_base_report", "get_report"],
  monitoring: ["set_variable_monitoring", "clear_variable_monitoring", "set_monitoring_base", "set_monitoring_level",
    "get_monitoring_report"],
  authorization: ["send_local_list", "get_local_list_version", "customer_information"],
  smartCharging: ["set_charging_profile", "clear_charging_profile", "get_composite_schedule", "get_charging_profiles"],
  tariffs: ["running_cost", "final_cost", "user_price", "set_default_tariff", "change_transaction_tariff",
    "clear_tariffs", "get_tariffs"],
  certificates: ["certificate_signed", "install_certificate", "get_installed_certificate_ids", "delete_certificate"],
  displayMessages: ["set_display_message", "get_display_messages", "clear_display_message"],
  derControl: ["set_der_control", "get_der_control", "clear_der_control"],
};

function grouped(all: CommandSchemas): [string, string[]][] {
  const listed = new Set(Object.values(COMMAND_GROUPS).flat());
  const groups: [string, string[]][] = Object.entries(COMMAND_GROUPS)
    .map(([group, names]) => [group, names.filter((name) => name in all)]);
  groups.push(["other", Object.keys(all).filter((name) => !listed.has(name))]);
  return groups.filter(([, names]) => names.length > 0);
}

function field(name: string, raw: Schema, required: boolean): HTMLElement {
  const schema = plain(raw);
  const id = `param-${name}`;
  let input: HTMLElement;
  if (schema.enum) {
    input = h("select", { name, id }, ...(required ? [] : [h("option", { value: "" }, "")]),
      ...schema.enum.map((v) => h("option", { value: v, selected: raw.default === v },
        words(`station.option_${name}_${v}`, v))));
  } else if (schema.type === "boolean") {
    input = h("input", { type: "checkbox", name, id, "data-kind": "boolean", checked: raw.default === true });
  } else if (schema.type === "integer") {
    input = h("input", { type: "number", name, id, "data-kind": "integer", required,
      value: typeof raw.default === "number" ? raw.default : undefined });
  } else if (schema.type === "array" && plain(schema.items ?? {}).type === "string") {
    input = h("input", { type: "text", name, id, "data-kind": "list", placeholder: "A, B" });
  } else if (schema.type === "array") {
    input = h("textarea", { name, id, "data-kind": "json", placeholder: "[]" });
  } else if (schema.$ref || schema.type === "object") {
    input = h("textarea", { name, id, "data-kind": "json", placeholder: "{}" });
  } else {
    input = h("input", { type: "text", name, id, required,
      placeholder: schema.format === "date-time" ? "2026-01-31T12:00:00Z" : undefined });
  }
  return h("label", {}, h("span", {}, words(`station.param_${name}`, name) + (required ? " *" : ""), " ", apiName(name)),
    input);
}

function values(form: HTMLFormElement): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const element of Array.from(form.elements) as HTMLInputElement[]) {
    if (!element.name) continue;
    const kind = element.dataset.kind;
    if (kind === "boolean") body[element.name] = element.checked;
    else if (element.value === "") continue;
    else if (kind === "integer") body[element.name] = Number(element.value);
    else if (kind === "list") body[element.name] = element.value.split(",").map((v) => v.trim()).filter(Boolean);
    else if (kind === "json") body[element.name] = JSON.parse(element.value);
    else body[element.name] = element.value;
  }
  return body;
}

// The OCPP message log is written in batches (a quarter second by default), so the page
// re-reads it a little after a command's reply rather than at once.
const LOG_SETTLE_MS = 600;

function commandForm(
  stationId: string, name: string, schema: CommandSchemas[string], answered: () => void,
): HTMLElement {
  const reply = h("pre", { class: "reply", "data-command": name, "aria-live": "polite" });
  const required = new Set(schema.required ?? []);
  const form = h("form", { class: "command", "data-command": name, onsubmit: async (e: Event) => {
    e.preventDefault();
    reply.className = "reply waiting";
    reply.dataset.code = "";
    reply.textContent = t("station.waiting");
    try {
      const result = await api<{ status: string | null; reply: unknown }>(
        `/stations/${encodeURIComponent(stationId)}/commands/${name}`,
        { method: "POST", body: JSON.stringify(values(form)) });
      reply.className = "reply ok";
      reply.textContent = `${t("station.reply")}: ${result.status ?? "–"}\n${JSON.stringify(result.reply, null, 1)}`;
    } catch (error) {
      reply.className = "reply failed";
      reply.dataset.code = problemCode(error) ?? "";
      reply.textContent = problemText(error);
    }
    answered();
  } },
    h("div", { class: "command-head" },
      h("button", { type: "submit", id: `command-${name}` }, words(`station.command_${name}`, name)), apiName(name)),
    ...Object.entries(schema.properties ?? {}).map(([param, s]) => field(param, s, required.has(param))),
    reply,
  );
  return form;
}

function profileView(profile: Profile | null): HTMLElement[] {
  if (!profile || Object.keys(profile.facts).length === 0) return [h("p", {}, t("common.empty"))];
  const shown = (value: unknown) => value === true ? t("station.yes") : value === false ? t("station.no")
    : Array.isArray(value) ? value.join(", ") : String(value);
  return [
    h("p", {}, t("station.profileApplied", { names: profile.profiles.join(", ") || "–" })),
    table([t("station.fact"), t("col.value"), t("station.factSource")],
      Object.entries(profile.facts).map(([name, fact]) => [t(`station.fact_${name}`), shown(fact.value), fact.source]),
      { id: "profile-table" }),
  ];
}

export function stationPage(root: HTMLElement, stationId: string): () => void {
  const info = h("section", { id: "station-info" });
  const connectors = h("section", { id: "connectors" });
  const sessions = h("section", { id: "current-session" });
  const commands = h("section", { id: "commands" }, h("h2", {}, t("station.commands")));
  const messages = h("section", { id: "messages" });
  const configuration = h("section", { id: "configuration" });
  const security = securitySection(stationId, () => reloadAfter(LOG_SETTLE_MS));
  const certificates = certificatesSection(stationId);
  const smart = smartSection(stationId);
  // Monitors, display messages, customer information: OCPP 2.0.1 stations only.
  const device = deviceSections(stationId, () => reloadAfter(LOG_SETTLE_MS));
  device.element.hidden = true;
  // Reports and network profiles (2.0.1), meter values outside sessions (both versions).
  const provisioning = provisioningSections(stationId, () => reloadAfter(LOG_SETTLE_MS));
  const profile = h("section", { id: "station-profile" });
  // What a role may not use is not drawn at all: maintenance (security, certificates, device
  // model, reports and network profiles), smart charging's changes, commands.
  const maintenance = can("maintenance");
  root.append(h("h1", {}, stationId), info, ...only("maintenance", security.element), connectors,
    ...only("sessions:read", sessions), profile, ...only("network:write", smart.element),
    ...only("maintenance", certificates.element, device.element, provisioning.element),
    ...only("commands", commands), messages, configuration);
  const id = encodeURIComponent(stationId);

  // While a reload waits or runs the page says it is busy (aria-busy on #page): assistive
  // technology holds its announcements until the sections have filled, and the browser tests
  // wait for it before they click, as sections above a form change height when they fill.
  let pending: number | undefined;
  let loading = 0;
  let left = false;
  const busy = () => {
    if (!left) root.setAttribute("aria-busy", String(pending !== undefined || loading > 0));
  };

  const load = async () => {
    loading += 1;
    busy();
    try {
      await draw();
    } finally {
      loading -= 1;
      busy();
    }
  };

  const draw = async () => {
    const [station, active, log] = await Promise.all([
      api<Station>(`/stations/${id}`),
      can("sessions:read") ? api<Transaction[]>(`/transactions?station_id=${id}&state=Active`) : [],
      api<Message[]>(`/stations/${id}/messages?limit=25`),
    ]);
    const status = live.stations[stationId];
    const state = status ? stateOf(status) : station.online ? "available" : station.moved_to ? "moved" : "offline";
    info.replaceChildren(h("dl", {},
      h("dt", {}, t("col.state")), h("dd", {}, h("span", { class: `badge ${state}`, id: "station-state" }, t(`state.${state}`)),
        station.moved_to && !station.online ? h("span", { class: "hint", id: "station-moved" }, h("br", {}),
          t("station.movedTo", { url: station.moved_to, time: dateTime(station.moved_at) })) : null),
      h("dt", {}, t("station.model")), h("dd", {}, [station.vendor, station.model].filter(Boolean).join(" ") || "–"),
      h("dt", {}, t("station.firmware")), h("dd", {}, station.firmware_version ?? "–"),
      h("dt", {}, "OCPP"), h("dd", {}, station.ocpp_version ?? "–"),
      h("dt", {}, t("station.lastSeen")), h("dd", {}, dateTime(station.last_seen_at)),
      h("dt", {}, t("station.registration")), registration(stationId, station.registration_status, () => reloadAfter(0)),
    ));
    if (maintenance) await security.show(station);
    connectors.replaceChildren(h("h2", {}, t("station.connectors")), table(
      [t("col.connector"), t("col.standard"), t("col.power"), t("col.status"), t("col.error"), t("col.since")],
      station.connectors.map((c) => [
        `${c.evse_id}/${c.connector_id}`, standardName(c.standard), `${number(Number(c.max_power_kw))} ${t("unit.kw")}`,
        h("span", { class: `status ${c.status}`, title: c.status },
          known(`connector.${c.status}`) ? t(`connector.${c.status}`) : c.status),
        [c.error_code, c.vendor_error_code, c.info].filter((v) => v && v !== "NoError").join(" · ") || "–",
        dateTime(c.status_at),
      ]),
      { id: "connector-table" },
    ));
    sessions.replaceChildren(h("h2", {}, t("station.session")), active.length === 0
      ? h("p", {}, t("station.noSession"))
      : table([t("col.connector"), t("col.token"), t("col.started"), t("col.energy")],
        active.map((s) => [`${s.evse_id}/${s.connector_id}`, s.id_token ?? "–", dateTime(s.started_at), kwh(s.energy_wh)])));
    messages.replaceChildren(h("h2", {}, t("station.messages")), table(
      [t("col.time"), "", t("col.action"), t("col.payload")],
      log.map((m) => [time(m.at), m.direction === "in" ? "→" : "←", m.action ?? m.error_code ?? "",
        h("code", {}, m.payload.length > 160 ? m.payload.slice(0, 160) + "…" : m.payload)]),
      { id: "message-table" },
    ));
    profile.replaceChildren(h("h2", {}, t("station.profile")), ...profileView(station.profile));
    if (can("network:write")) await smart.load(station.ocpp_version);
    device.element.hidden = !speaks201(station.ocpp_version);
    if (maintenance) {
      await certificates.load(station.ocpp_version);
      if (!device.element.hidden) await device.load();
      await provisioning.load(station.ocpp_version);
    }
    const config = Object.entries(station.configuration ?? {});
    configuration.replaceChildren(h("h2", {}, t("station.configuration")), config.length === 0
      ? h("p", {}, t("common.empty"))
      : table([t("col.key"), t("col.value")], config.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
  };

  schemas ??= api<CommandSchemas>("/console/commands");
  // Only the commands this person may send, grouped; a group left empty is not shown.
  if (can("commands")) void schemas.then((all) => commands.append(...grouped(all)
    .map(([group, names]) => [group, names.filter((name) => can(...commandNeeds(name)))] as [string, string[]])
    .filter(([, names]) => names.length > 0)
    .map(([group, names]) =>
      h("section", { class: "command-group", "data-group": group }, h("h3", {}, t(`station.group_${group}`)),
        h("div", { class: "commands" }, ...names.map((name) =>
          commandForm(stationId, name, all[name], () => reloadAfter(LOG_SETTLE_MS))))))));
  void load().catch((error) => info.replaceChildren(h("p", { class: "error" },
    error instanceof ApiError && error.status === 404 ? t("common.notFound") : t("common.error"))));

  const reloadAfter = (ms: number) => {
    clearTimeout(pending);
    pending = window.setTimeout(() => {
      pending = undefined;
      void load();
    }, ms);
    busy();
  };
  const stop = live.subscribe((event) => {
    if (event && event.station_id !== stationId) return;
    reloadAfter(300);
  });
  return () => {
    left = true;
    stop();
    clearTimeout(pending);
    root.removeAttribute("aria-busy");
  };
}
