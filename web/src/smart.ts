// What the smart-charging pages share: the API's shapes, amperes and kilowatts in the locale's
// style, and a refusal turned into words. The API works in amperes per phase (breakers are
// rated per phase); power is W = A × V × phases, V phase-to-neutral.

import { ApiError } from "./api";
import { number, t } from "./i18n";
import { explained, problemText } from "./problems";

export interface SmartSiteSummary {
  site: string; name: string; city: string | null; grid_limit_a: string; grid_limit_kw: number;
  voltage: string; depot: boolean; circuits: number; evses: number;
}

export interface SmartSite {
  site: string; grid_limit_a: string; grid_limit_kw: number; voltage: string; base_load_w: string | null;
  depot: boolean; prices: { currency: string } | null;
  circuits: { code: string; parent: string; name: string | null; limit_a: string; phases: number }[];
  evses: { station_id: string; evse_id: number; circuit: string; priority: number; max_current_a: string;
    min_current_a: string; phases: number; obeys_profiles: boolean }[];
}

export interface ChargerPower {
  station_id: string; evse_id: number; path: string[]; transaction_id: number | null;
  planned_a: number | null; sent_a: number | null; default_a: number | null;
  actual_a: string | null; actual_w: string | null; obeys_profiles: boolean;
  ev_needs: EvNeeds | null;
}

/** What an ISO 15118 car said it needs (2.0.1 NotifyEVChargingNeeds; 2.1 adds V2X). */
export interface EvNeeds {
  transfer: string; energy_wh: number | null; min_current_a: number | null; max_current_a: number | null;
  max_power_w: number | null; departure: string | null;
  bidirectional?: boolean; offered?: string[]; max_discharge_w?: number | null; dischargeable_wh?: number | null;
}

export interface CircuitPower { circuit: string; limit_a: number; path: string[]; planned_a: number; actual_a: number }

export interface SitePower {
  site: string; allocated_at: string | null; paused: string[]; unmanaged: string[]; overloaded: string[];
  chargers: ChargerPower[]; circuits: CircuitPower[];
}

export interface SmartProblem {
  id: number; at: string; kind: string; station_id: string | null; evse_id: number | null;
  reason: string; data: Record<string, unknown> | null;
}

/** The connection itself, the root of every site's circuit tree (services/smart.py CONNECTION). */
export const CONNECTION = "connection";

export function amps(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return `${number(Number(value))} ${t("unit.a")}`;
}

export function kw(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return `${number(value)} ${t("unit.kw")}`;
}

/** kW drawn by `a` amperes per phase on `phases` phases at `voltage` volts phase-to-neutral. */
export function toKw(a: number, voltage: number, phases: number): number {
  return (a * voltage * phases) / 1000;
}

/** "evse key" as the API names an EVSE in `paused`, `unmanaged`: station/evse. */
export function evseKey(stationId: string, evseId: number): string {
  return `${stationId}/${evseId}`;
}

/** A refusal from the API in words: its reason, or each field's complaint. */
export function refusal(error: unknown): string {
  if (!(error instanceof ApiError)) return problemText(error);  // the network, or no API answer
  const plain = explained(error);
  if (plain) return plain;
  const detail = error.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail))
    return detail.map((d: { loc?: unknown[]; msg?: string }) =>
      [d.loc?.slice(1).join("."), d.msg].filter(Boolean).join(": ")).join("; ");
  return `${t("common.error")}: HTTP ${error.status}`;
}
