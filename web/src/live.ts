// The network's live status: read once from /status, then kept current from /events.

import { api, streamEvents, type LiveEvent } from "./api";

export interface ConnectorStatus {
  evse_id: number;
  connector_id: number;
  standard: string;
  max_power_kw: string;
  status: string;
  error_code: string | null;
  status_at: string | null;
  in_transaction: boolean;
}

export interface StationStatus {
  online: boolean;
  last_seen_at: string | null;
  status: string | null;
  error_code: string | null;
  site_id: number | null;
  planned?: boolean;
  /** The other CSMS it moved to (B10): no connection is expected here. */
  moved_to?: string | null;
  connectors: ConnectorStatus[];
}

export type State = "available" | "charging" | "faulted" | "unavailable" | "offline" | "planned" | "moved";
export const STATES: State[] = ["available", "charging", "faulted", "unavailable", "offline", "planned", "moved"];

const CHARGING = new Set(["Charging", "SuspendedEV", "SuspendedEVSE", "Occupied", "Preparing", "Finishing"]);

export function stateOf(station: StationStatus): State {
  if (!station.online) return station.planned ? "planned" : station.moved_to ? "moved" : "offline";
  const connectors = station.connectors;
  if (station.status === "Faulted" || connectors.some((c) => c.status === "Faulted")) return "faulted";
  if (connectors.some((c) => c.in_transaction || CHARGING.has(c.status))) return "charging";
  if (station.status === "Unavailable" || (connectors.length > 0 && connectors.every((c) => c.status === "Unavailable")))
    return "unavailable";
  return "available";
}

type Listener = (event: LiveEvent | null) => void;

class Live {
  stations: Record<string, StationStatus> = {};
  connected = false;
  private listeners = new Set<Listener>();
  private abort: AbortController | null = null;
  private refetch: number | undefined;

  async start(): Promise<void> {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    await this.reload();
    if (abort.signal.aborted) return;  // stopped (logged out, say) while the state loaded
    void streamEvents(
      (event) => this.apply(event),
      () => { this.connected = true; void this.reload(); },
      () => { this.connected = false; this.emit(null); },
      abort.signal,
    );
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
    this.connected = false;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async reload(): Promise<void> {
    const status = await api<{ stations: Record<string, StationStatus> }>("/status");
    this.stations = status.stations;
    this.emit(null);
  }

  private emit(event: LiveEvent | null): void {
    for (const listener of this.listeners) listener(event);
  }

  private apply(event: LiveEvent): void {
    const station = this.stations[event.station_id];
    if (station) {
      switch (event.event) {
        case "ConnectorStatusChanged": {
          const c = station.connectors.find(
            (c) => c.evse_id === event.evse_id && c.connector_id === event.connector_id,
          );
          if (event.evse_id === 0) {
            station.status = event.status as string;
            station.error_code = (event.error_code as string | null) ?? null;
          }
          if (c) {
            c.status = event.status as string;
            c.error_code = (event.error_code as string | null) ?? null;
            c.status_at = event.at as string;
          }
          station.online = true;
          break;
        }
        case "StationConnected":
        case "StationBooted":
          station.online = true;
          break;
        case "StationDisconnected":
        case "StationWentOffline":
          station.online = false;
          break;
        default:
          this.reloadSoon(); // transactions: which connectors they hold is in /status
      }
      station.last_seen_at = (event.at as string) ?? station.last_seen_at;
    } else {
      this.reloadSoon();
    }
    this.emit(event);
  }

  private reloadSoon(): void {
    clearTimeout(this.refetch);
    this.refetch = window.setTimeout(() => void this.reload(), 300);
  }
}

export const live = new Live();
