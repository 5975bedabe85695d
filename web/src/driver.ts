// The logged-in driver, if any. The session lives in an HTTP-only cookie the page cannot read,
// so who is logged in is asked of the API (GET /driver/me) once and after each login/logout.

import { ApiError, api } from "./api";

export interface DriverAccount { id: number; email: string; name: string; language: string; tokens: string[] }

export interface Reservation {
  id: number; station_id: string; evse_id: number; connector_id: number | null; id_token: string;
  expires_at: string; status: string; created_at: string;
}

export interface Charge {
  cdr_id: string; currency: string; total_excl_vat: string; total_incl_vat: string; billed: boolean;
  review: string | null;
}

export interface ChargingSession {
  id: number; station_id: string; evse_id: number; connector_id: number; id_token: string | null; state: string;
  started_at: string; stopped_at: string | null; energy_wh: string | null; stop_reason: string | null;
  charge: Charge | null; receipt: string | null;
}

let current: Promise<DriverAccount | null> | null = null;

export const driver = {
  /** The logged-in driver, or null. */
  get(): Promise<DriverAccount | null> {
    if (current) return current;
    const asked: Promise<DriverAccount | null> = api<DriverAccount>("/driver/me").catch((error) => {
      // 410: the account was deleted (by this browser or another); nobody is logged in.
      if (error instanceof ApiError && (error.status === 401 || error.status === 410)) return null;
      // Any other failure (the network, a 5xx) is no answer: the next call asks again, unless a
      // login or logout has answered meanwhile.
      if (current === asked) current = null;
      throw error;
    });
    current = asked;
    return asked;
  },
  async login(email: string, password: string): Promise<DriverAccount> {
    const session = await api<{ driver: DriverAccount }>("/driver/login", {
      method: "POST", body: JSON.stringify({ email, password }),
    });
    current = Promise.resolve(session.driver);
    return session.driver;
  },
  async register(email: string, password: string, name: string, language: string): Promise<DriverAccount> {
    await api("/driver/register", { method: "POST", body: JSON.stringify({ email, password, name, language }) });
    return this.login(email, password);
  },
  async logout(): Promise<void> {
    await api("/driver/logout", { method: "POST" });
    current = Promise.resolve(null);
  },
  /** Change the logged-in driver's password; this session stays, the others end. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await api("/driver/password", {
      method: "POST", body: JSON.stringify({ current_password: currentPassword, new_password: newPassword }),
    });
  },
  /** The driver's charging sessions, newest first, each with what it cost. */
  sessions(): Promise<ChargingSession[]> {
    return api<ChargingSession[]>("/driver/sessions");
  },
  /** Delete the account (the password once more); the session ends with it. */
  async deleteAccount(password: string): Promise<void> {
    await api("/driver/me", { method: "DELETE", body: JSON.stringify({ password }) });
    current = Promise.resolve(null);
  },
  /** Ask for a reset link. The answer is the same whether or not the email has an account. */
  async askReset(email: string): Promise<void> {
    await api("/driver/password-reset", { method: "POST", body: JSON.stringify({ email }) });
  },
  /** Set a new password with a mailed token. Every session of that driver ends, which may be
   * this browser's, so who is logged in is asked again. */
  async resetPassword(token: string, newPassword: string): Promise<void> {
    await api("/driver/password-reset/confirm", {
      method: "POST", body: JSON.stringify({ token, new_password: newPassword }),
    });
    current = null;
  },
};

/** Where to go after logging in: the driver page that asked for it. */
export const afterLogin = {
  set: (hash: string) => sessionStorage.setItem("silkcharge.afterLogin", hash),
  take: (): string => {
    const hash = sessionStorage.getItem("silkcharge.afterLogin") ?? "#/find";
    sessionStorage.removeItem("silkcharge.afterLogin");
    return hash;
  },
};
