// Who is signed in to the console and what their role may do. The console asks /access/me once
// (at start and after signing in) and every page asks this module, never the role's name: the
// permissions are the server's (domain/roles.py), so the console shows exactly what the API
// would allow, and hides the rest (not just disables it).

import { ApiError, api, apiKey } from "./api";

export type Permission =
  | "network:read" | "network:write" | "commands" | "maintenance" | "sessions:read"
  | "tokens:read" | "tokens:write" | "money:read" | "money:write" | "caps:read" | "caps:write"
  | "aggregates:read" | "planning:write" | "personal-data" | "access:manage" | "audit:read" | "tenants:manage"
  | "roaming:read" | "roaming:write";

export interface Me {
  kind: string;
  name: string;
  person: string | null;
  role: string;
  role_description: string;
  tenant_id: number | null;
  permissions: Permission[];
  /** A person's second factor is on (false: off); null for a key. */
  totp?: boolean | null;
}

let me: Me | null = null;

export const session = {
  /** Who is signed in, or null. */
  get me(): Me | null { return me; },

  /** Asks the API who the credential in hand (the session cookie or the tab's API key) is. */
  async load(): Promise<Me | null> {
    try {
      me = await api<Me>("/access/me");
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      me = null;
      apiKey.clear();
    }
    return me;
  },

  set(who: Me): void { me = who; },

  /** Ends the console session on the server (its cookie too) and forgets the tab's key. */
  async logout(): Promise<void> {
    me = null;
    apiKey.clear();
    await api("/access/logout", { method: "POST" }).catch(() => undefined);
  },
};

export function can(...needed: Permission[]): boolean {
  return me !== null && needed.every((p) => me!.permissions.includes(p));
}

/** What reading each operator page needs (its route's first word; "" is the dashboard), in the
 * order a role's start page is chosen. */
export const PAGES: Record<string, Permission[]> = {
  "": ["network:read"],
  caps: ["caps:read"],
  map: ["network:read"],
  planning: ["aggregates:read", "network:read"],
  sessions: ["sessions:read"],
  alerts: ["network:read"],
  review: ["money:read", "sessions:read"],
  smart: ["network:read"],
  stations: ["network:read"],
  tariffs: ["money:read"],
  audit: ["audit:read"],
  people: ["access:manage"],
  sites: ["aggregates:read", "network:read"],
  roaming: ["roaming:read"],
};

/** Whether the role may open the operator page at this hash (#/stations/X: "stations"). */
export function mayOpen(hash: string): boolean {
  const page = hash.replace(/^#\/?/, "").split("/")[0];
  const needed = PAGES[page];
  return needed === undefined || can(...needed);
}

/** Where a role starts: the dashboard, else the first page it may read. */
export function home(): string {
  const first = Object.keys(PAGES).find((page) => can(...PAGES[page]));
  return first === undefined ? "#/find" : `#/${first}`;
}

// Station commands (all POST /stations/{id}/commands/{name}, the API's "commands" area) that
// also touch a station's maintenance (configuration, firmware, diagnostics, certificates,
// monitoring, reports) or its prices: the console offers them only to roles holding that too.
const MAINTENANCE_COMMANDS = new Set([
  "get_configuration", "set_configuration", "set_configuration_values", "update_firmware", "publish_firmware",
  "unpublish_firmware", "get_diagnostics", "get_base_report", "get_report", "certificate_signed",
  "install_certificate", "get_installed_certificate_ids", "delete_certificate", "set_variable_monitoring",
  "clear_variable_monitoring", "set_monitoring_base", "set_monitoring_level", "get_monitoring_report",
  "customer_information", "clear_cache", "data_transfer", "set_der_control", "get_der_control", "clear_der_control",
]);
const MONEY_COMMANDS = new Set([
  "running_cost", "final_cost", "user_price", "set_default_tariff", "change_transaction_tariff", "clear_tariffs",
  "get_tariffs",
]);

/** What a station command needs besides `commands`. */
export function commandNeeds(name: string): Permission[] {
  if (MAINTENANCE_COMMANDS.has(name)) return ["commands", "maintenance"];
  if (MONEY_COMMANDS.has(name)) return ["commands", "money:write"];
  return ["commands"];
}

/** `nodes` when the role holds every permission needed, else nothing: for controls. */
export function only<T>(needed: Permission | Permission[], ...nodes: T[]): T[] {
  return can(...(Array.isArray(needed) ? needed : [needed])) ? nodes : [];
}
