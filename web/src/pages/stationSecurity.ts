// The station's security on its page: its profile (and an upgrade under way), its password (and
// a rotation under way), the two actions that change them, and the security events recorded
// for it: refused handshakes, certificates, downgrades, the station's own reports.

import { api } from "../api";
import { h, table } from "../dom";
import { problemText } from "../problems";
import { dateTime, known, t } from "../i18n";

export interface StationSecurity {
  security_profile: number;
  security_profile_pending: number | null;
  password_set: boolean;
  password_rotation_pending: boolean;
}
interface SecurityEvent {
  id: number; type: string; reason: string | null; reason_code: string | null;
  reason_values: Record<string, string> | null; tech_info: string | null; occurred_at: string;
}
interface Change { status: string; steps: { action: string; status: string }[] }

export function securitySection(stationId: string, changed: () => void) {
  const id = encodeURIComponent(stationId);
  const element = h("section", { id: "security" });
  const reply = h("pre", { class: "reply", id: "security-reply", "aria-live": "polite" });

  const send = async (path: string, body: object) => {
    reply.className = "reply waiting";
    reply.textContent = t("station.waiting");
    try {
      const change = await api<Change>(`/stations/${id}/${path}`, { method: "POST", body: JSON.stringify(body) });
      reply.className = "reply ok";
      reply.textContent = [`${t("station.reply")}: ${change.status}`,
        ...change.steps.map((step) => `${step.action}: ${step.status}`)].join("\n");
    } catch (error) {
      reply.className = "reply failed";
      reply.textContent = problemText(error);
    }
    changed();
  };

  const show = async (station: StationSecurity) => {
    const events = await api<SecurityEvent[]>(`/security-events?station_id=${id}&limit=10`);
    const profile = station.security_profile;
    const pending = station.security_profile_pending;
    element.replaceChildren(
      h("h2", {}, t("station.security")),
      h("dl", {},
        h("dt", {}, t("station.securityProfile")),
        h("dd", { id: "security-profile" }, t(`station.profile${profile}`),
          pending ? h("span", { class: "pending" }, ` · ${t("station.profilePending", { profile: pending })}`) : null),
        h("dt", {}, t("station.password")),
        h("dd", { id: "station-password" }, station.password_set ? t("station.passwordSet") : t("station.passwordNone"),
          station.password_rotation_pending ? h("span", { class: "pending" }, ` · ${t("station.rotationPending")}`) : null),
      ),
      h("div", { class: "commands" },
        h("button", { type: "button", id: "rotate-password", onclick: () => void send("password-rotation", {}) },
          t("station.rotatePassword")),
        ...[2, 3].filter((higher) => higher > profile).map((higher) =>
          h("button", { type: "button", id: `raise-profile-${higher}`,
            onclick: () => void send("security-profile-upgrade", { profile: higher }) },
          t("station.raiseProfile", { profile: higher }))),
      ),
      reply,
      h("h3", {}, t("station.securityEvents")),
      events.length === 0
        ? h("p", {}, t("common.empty"))
        : table([t("col.time"), t("col.type"), t("col.reason")],
          events.map((e) => [dateTime(e.occurred_at), e.type, why(e)]),
          { id: "security-events" }),
    );
  };

  return { element, show };
}

/** A CSMS decision's reason in the operator's language when the console has words for its code
 * (events recorded before codes were kept, or by a newer server, show the English sentence); a
 * station's own event shows its techInfo, in the station's words. */
function why(e: SecurityEvent): string {
  const key = `security.reason.${e.reason_code}`;
  if (e.reason_code && known(key)) return t(key, e.reason_values ?? {});
  return e.reason ?? e.tech_info ?? "–";
}
