// Roaming (roaming:read): the OCPI partners with their handshake state, parties, last push and
// pull and last error, a pull on demand (roaming:write), and a month's settlement with each
// partner both ways: their drivers at our chargers (they owe us), ours at theirs (we owe them,
// and what our drivers paid us for it), per currency, never netted across currencies. Then the
// roaming sessions and partners' CDRs, and the charging profiles exchanged with partners: what
// a partner eMSP asked of our chargers, what we asked of a partner CPO's, the active profiles
// we pushed partners when a session's limits changed, and the latest ones partners pushed us.

import { api } from "../api";
import { h } from "../dom";
import { currentLocale, dateTime, known, money, number, t } from "../i18n";
import { live } from "../live";
import { problemText } from "../problems";
import { can } from "../permissions";

interface Party { role?: string; country_code?: string; party_id?: string }
interface Partner {
  id: number; name: string; state: string; version: string | null; roles: Party[];
  last_push_at: string | null; last_pull_at: string | null; last_error: string | null;
}
interface PullReport { locations: number; tariffs: number; skipped: number; problems: string[]; error: string | null }
interface Amount { currency: string; excl_vat: string; incl_vat: string }
interface Amounts { cdrs: number; energy_kwh: string; totals: Amount[] }
interface Settlement {
  partner_id: number; partner: string; state: string;
  their_drivers_at_our_chargers: Amounts; their_cdrs_held_for_review: number;
  our_drivers_at_their_chargers: Amounts; charged_to_our_drivers: Amounts;
  our_cdrs_waiting_for_a_rate: number; conflicting_cdrs: number;
}

interface RoamingSession {
  direction: "ours_at_theirs" | "theirs_at_ours"; partner: string | null; session_id: string; location_id: string | null;
  place: string | null; evse: string | null; token_uid: string | null; status: string; kwh: string | null;
  cost: { currency: string; incl_vat: string } | null; started_at: string | null; ended_at: string | null;
}
interface PartnerCdr {
  id: number; partner: string | null; cdr_id: string; ended_at: string | null; currency: string;
  total_incl_vat: string | null; driver_currency: string | null; driver_incl_vat: string | null;
  charge_state: string; hold_reason: string | null; conflict: boolean;
}

interface ProfilePeriod { start_period: number; limit: number }
/** An OCPI 2.2.1 ChargingProfile. */
interface OcpiProfile {
  start_date_time?: string; duration?: number; charging_rate_unit: string; charging_profile_period?: ProfilePeriod[];
}
/** An OCPI 2.2.1 ActiveChargingProfile. */
interface ActiveProfile { start_date_time: string; charging_profile: OcpiProfile }
interface ProfileExchange {
  id: number; partner: string | null; direction: "sent" | "received" | "pushed"; kind: "SET" | "ACTIVE" | "CLEAR";
  session_id: string; station_id: string | null; evse_id: number | null; cause: string | null;
  location_id: string | null; evse_uid: string | null; place: string | null;
  response: string | null; response_message: string | null; result: string | null; result_message: string | null;
  delivery_error: string | null; charging_profile: OcpiProfile | null; profile: ActiveProfile | null;
  created_at: string;
}
interface PushedToUs { partner_id: number; partner: string | null; session_id: string; profile: ActiveProfile;
  received_at: string }

const clock = (at: number) => new Intl.DateTimeFormat(currentLocale(), { timeStyle: "short" }).format(new Date(at));
const rate = (limit: number, unit: string) => unit === "W" ? `${number(limit / 1000)} ${t("unit.kw")}`
  : `${number(limit)} ${t("unit.a")}`;

/** A span of seconds as people say it: seconds, minutes, or hours from two hours on. */
function span(seconds: number): string {
  if (seconds < 60) return t("roaming.seconds", { n: number(seconds, 0) });
  const minutes = seconds / 60;
  return minutes < 120 ? `${number(minutes, 0)} ${t("unit.min")}` : t("roaming.hours", { n: number(minutes / 60, 1) });
}

/** A charging profile's limits in words ("16 A from 10:05 · 10.5 A from 10:35") and, under them,
 * how long it lasts; a profile without a start counts from the start of charging. */
function limits(profile: OcpiProfile | null | undefined, start?: string): Node | string {
  const periods = profile?.charging_profile_period ?? [];
  if (!profile || periods.length === 0) return "–";
  const from = profile.start_date_time ?? start;
  const steps = periods.map((p) => {
    const limit = rate(p.limit, profile.charging_rate_unit);
    if (from) return t("roaming.limitFrom", { limit, time: clock(Date.parse(from) + p.start_period * 1000) });
    return p.start_period === 0 ? t("roaming.limitAtStart", { limit })
      : t("roaming.limitAfter", { limit, after: span(p.start_period) });
  });
  const lasting = profile.duration ? t("roaming.lasting", { duration: span(profile.duration) })
    : t("roaming.openEnded");
  return h("span", {}, ...steps.flatMap((step, n) => [n ? " · " : null, h("span", { class: "step" }, step)]),
    h("br", {}), h("span", { class: "hint" }, lasting));
}

/** The OCPI answer in words (the server's own reason, in English, follows in small text). */
const answer = (code: string) => known(`roaming.answer.${code}`) ? t(`roaming.answer.${code}`) : code;

function outcome(x: ProfileExchange): HTMLElement {
  const why = (text: string | null) => text ? h("span", { class: "hint", lang: "en" }, h("br", {}), text) : null;
  if (x.direction === "pushed")
    return h("td", { class: `outcome ${(x.result ?? "").toLowerCase()}` },
      x.result === "ACCEPTED" ? t("roaming.pushedOk") : answer(x.result ?? "UNKNOWN"), why(x.result_message));
  if (x.response !== "ACCEPTED")
    return h("td", { class: `outcome ${(x.response ?? "").toLowerCase()}` },
      x.response ? answer(x.response) : t("roaming.sending"), why(x.response_message));
  if (x.result === null) return h("td", { class: "outcome waiting" }, t("roaming.awaitingResult"));
  return h("td", { class: `outcome ${x.result.toLowerCase()}` }, answer(x.result), why(x.result_message),
    x.delivery_error ? h("span", { class: "hint warn" }, h("br", {}),
      t("roaming.resultNotDelivered", { error: x.delivery_error })) : null);
}

/** Why we pushed, in words: the sources of the change (operator, load management, depot plan),
 * or a limit a 2.0.1 charger reported an energy management system or the grid operator set. */
function cause(text: string): string {
  return text.split(", ").map((c) => {
    const external = /^external limit (set|cleared) by (.+)$/.exec(c);
    if (external) return t(external[1] === "set" ? "roaming.externalSet" : "roaming.externalCleared",
      { source: external[2] });
    if (c === "station back online") return t("roaming.backOnline");
    return known(`smart.profileSource_${c}`) ? t(`smart.profileSource_${c}`) : c;
  }).join(", ");
}

const parties = (p: Partner) => p.roles.map((r) => `${r.country_code}*${r.party_id} ${r.role ?? ""}`.trim()).join(", ");
const totals = (a: Amounts) => a.totals.length === 0 ? "–"
  : a.totals.map((x) => money(x.incl_vat, x.currency)).join(" + ");

function amountsCell(a: Amounts, extra: string | null = null): HTMLElement {
  return h("td", {}, h("span", { class: "total" }, totals(a)), h("br", {}),
    h("span", { class: "hint" }, t("roaming.cdrsKwh", { n: number(a.cdrs, 0), kwh: number(Number(a.energy_kwh), 1) })),
    extra ? h("span", { class: "hint warn" }, h("br", {}), extra) : null);
}

export function roamingPage(root: HTMLElement): () => void {
  const partnersBody = h("tbody", {});
  const message = h("p", { id: "roaming-message", role: "status" });
  const monthInput = h("input", { id: "settlement-month", type: "month",
    value: new Date().toISOString().slice(0, 7) });
  const settlementBody = h("tbody", {});
  const settlementNote = h("p", { class: "hint", id: "settlement-note" });

  const pull = async (partner: Partner) => {
    message.className = "waiting";
    message.textContent = t("roaming.pulling", { partner: partner.name });
    try {
      const got = await api<PullReport>(`/roaming/partners/${partner.id}/pull`, { method: "POST" });
      message.className = got.error ? "error" : "ok";
      message.textContent = got.error ? t("roaming.pullStopped", { error: got.error })
        : t("roaming.pulled", { locations: number(got.locations, 0), tariffs: number(got.tariffs, 0),
          skipped: number(got.skipped, 0) });
    } catch (error) {
      message.className = "error";
      message.textContent = problemText(error);
    }
    void loadPartners();
  };

  const loadPartners = async () => {
    const partners = await api<Partner[]>("/roaming/partners");
    partnersBody.replaceChildren(...(partners.length === 0
      ? [h("tr", {}, h("td", { colspan: 7 }, t("roaming.noPartners")))]
      : partners.map((p) => h("tr", { "data-partner": p.id, class: p.last_error ? "has-error" : "" },
        h("td", {}, h("strong", {}, p.name), h("br", {}), h("span", { class: "hint" }, parties(p))),
        h("td", { class: `state ${p.state}` }, t(`roaming.state.${p.state}`), p.version ? ` (OCPI ${p.version})` : ""),
        h("td", { class: "pushed" }, p.last_push_at ? dateTime(p.last_push_at) : "–"),
        h("td", { class: "pulled" }, p.last_pull_at ? dateTime(p.last_pull_at) : "–"),
        h("td", { class: "last-error" }, p.last_error ?? "–"),
        h("td", {}, can("roaming:write") && p.state === "registered"
          ? h("button", { class: "pull", onclick: () => void pull(p) }, t("roaming.pull")) : null)))));
  };

  const loadSettlement = async () => {
    settlementNote.textContent = "";
    try {
      const months = await api<Settlement[]>(`/roaming/settlement?month=${encodeURIComponent(monthInput.value)}`);
      settlementBody.replaceChildren(...(months.length === 0
        ? [h("tr", {}, h("td", { colspan: 4 }, t("roaming.noSettlement")))]
        : months.map((m) => h("tr", { "data-partner": m.partner_id },
          h("td", {}, m.partner),
          amountsCell(m.their_drivers_at_our_chargers, m.their_cdrs_held_for_review
            ? t("roaming.heldForReview", { n: number(m.their_cdrs_held_for_review, 0) }) : null),
          amountsCell(m.our_drivers_at_their_chargers, m.conflicting_cdrs
            ? t("roaming.conflicts", { n: number(m.conflicting_cdrs, 0) }) : null),
          amountsCell(m.charged_to_our_drivers, m.our_cdrs_waiting_for_a_rate
            ? t("roaming.waitingForRate", { n: number(m.our_cdrs_waiting_for_a_rate, 0) }) : null)))));
    } catch (error) {
      settlementNote.textContent = problemText(error);
    }
  };
  monthInput.addEventListener("change", () => void loadSettlement());

  const sessionsBody = h("tbody", {});
  const cdrsBody = h("tbody", {});
  /** Where a session runs: a partner's location by the name its CPO gave it, when we hold it,
   * with the ids the partner's Session names (the location's and the EVSE's) under it. */
  const where = (place: string | null, locationId: string | null, evse: string | null) => {
    const ids = [locationId, evse].filter(Boolean).join(" · ");
    return h("td", { class: "where" }, place ?? (ids || "–"),
      place && ids ? h("span", { class: "hint" }, h("br", {}), ids) : null);
  };
  const loadSessions = async () => {
    const list = await api<RoamingSession[]>("/roaming/sessions?limit=50");
    sessionsBody.replaceChildren(...(list.length === 0 ? [h("tr", {}, h("td", { colspan: 7 }, t("roaming.noSessions")))]
      : list.map((x) => h("tr", { "data-direction": x.direction, "data-session": x.session_id },
        h("td", {}, t(`roaming.${x.direction === "ours_at_theirs" ? "oursAtTheirs" : "theirsAtOurs"}`)),
        h("td", {}, x.partner ?? "–"),
        where(x.place, x.location_id, x.evse),
        h("td", {}, x.token_uid ?? "–"),
        h("td", { class: "status", title: x.status }, sessionStatus(x.status)),
        h("td", {}, x.kwh === null ? "–" : `${number(Number(x.kwh))} ${t("unit.kwh")}`,
          x.cost ? h("span", { class: "hint" }, h("br", {}), money(x.cost.incl_vat, x.cost.currency)) : null),
        h("td", {}, x.started_at ? dateTime(x.started_at) : "–")))));
    const cdrs = await api<PartnerCdr[]>("/roaming/cdrs?limit=50");
    cdrsBody.replaceChildren(...(cdrs.length === 0 ? [h("tr", {}, h("td", { colspan: 5 }, t("roaming.noCdrs")))]
      : cdrs.map((c) => h("tr", { "data-cdr": c.id, class: c.conflict ? "conflict" : c.charge_state },
        h("td", {}, c.partner ?? "–", h("br", {}), h("span", { class: "hint" }, c.cdr_id)),
        h("td", {}, c.ended_at ? dateTime(c.ended_at) : "–"),
        h("td", {}, c.total_incl_vat === null ? "–" : money(c.total_incl_vat, c.currency)),
        h("td", {}, c.driver_incl_vat !== null && c.driver_currency !== null ? money(c.driver_incl_vat, c.driver_currency)
          : h("span", { class: "hint warn" }, c.hold_reason ?? t("roaming.waiting"))),
        h("td", {}, c.conflict ? t("roaming.conflict") : t(`roaming.charge.${c.charge_state}`))))));
  };

  const profilesBody = h("tbody", {});
  const pushedBody = h("tbody", {});
  const profilesNote = h("p", { class: "hint", id: "roaming-profiles-note" });
  const loadProfiles = async () => {
    const list = await api<ProfileExchange[]>("/roaming/charging-profiles?limit=50");
    profilesBody.replaceChildren(...(list.length === 0
      ? [h("tr", {}, h("td", { colspan: 8 }, t("roaming.noProfiles")))]
      : list.map((x) => h("tr", { "data-profile": x.id, "data-direction": x.direction, "data-kind": x.kind },
        h("td", {}, t(`roaming.profileDirection.${x.direction}`)),
        h("td", {}, x.partner ?? "–"),
        h("td", { class: "kind" }, t(`roaming.kind.${x.kind}`),
          x.cause ? h("span", { class: "hint" }, h("br", {}), t("roaming.cause", { cause: cause(x.cause) })) : null),
        h("td", { class: "session" }, x.session_id),
        x.station_id ? h("td", { class: "where" }, `${x.station_id}${x.evse_id ? `*${x.evse_id}` : ""}`)
          : where(x.place, x.location_id, x.evse_uid),
        outcome(x),
        h("td", { class: "limits" }, x.charging_profile ? limits(x.charging_profile)
          : limits(x.profile?.charging_profile, x.profile?.start_date_time)),
        h("td", { class: "time" }, dateTime(x.created_at))))));
    const pushed = await api<PushedToUs[]>("/roaming/charging-profiles/pushed?limit=50");
    pushedBody.replaceChildren(...(pushed.length === 0
      ? [h("tr", {}, h("td", { colspan: 4 }, t("roaming.noPushedProfiles")))]
      : pushed.map((x) => h("tr", { "data-partner": x.partner_id, "data-session": x.session_id },
        h("td", {}, x.partner ?? "–"),
        h("td", { class: "session" }, x.session_id),
        h("td", { class: "limits" }, limits(x.profile.charging_profile, x.profile.start_date_time)),
        h("td", { class: "time" }, dateTime(x.received_at))))));
  };

  root.append(
    h("h1", {}, t("roaming.title")),
    h("p", { class: "hint" }, t("roaming.intro")),
    message,
    h("h2", {}, t("roaming.partners")),
    h("table", { class: "cards", id: "roaming-partners" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.handshake", "roaming.lastPush", "roaming.lastPull",
        "roaming.lastError", ""].map((key) => h("th", {}, key ? t(key) : "")))),
      partnersBody),
    h("h2", {}, t("roaming.settlement")),
    h("label", {}, `${t("roaming.month")} `, monthInput),
    h("table", { class: "cards", id: "roaming-settlement" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.theyOwe", "roaming.weOwe", "roaming.driversPaid"]
        .map((key) => h("th", {}, t(key))))),
      settlementBody),
    settlementNote,
    h("h2", {}, t("roaming.sessions")),
    h("table", { class: "cards", id: "roaming-sessions" },
      h("thead", {}, h("tr", {}, ...["roaming.direction", "roaming.partner", "roaming.where", "roaming.token",
        "col.status", "roaming.energy", "roaming.started"].map((key) => h("th", {}, t(key))))),
      sessionsBody),
    h("h2", {}, t("roaming.cdrs")),
    h("table", { class: "cards", id: "roaming-cdrs" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.ended", "roaming.theirPrice", "roaming.ourDriverPays",
        "col.status"].map((key) => h("th", {}, t(key))))),
      cdrsBody),
    h("h2", {}, t("roaming.profiles")),
    h("p", { class: "hint" }, t("roaming.profilesIntro")),
    h("table", { class: "cards", id: "roaming-charging-profiles" },
      h("thead", {}, h("tr", {}, ...["roaming.profileWho", "roaming.partner", "roaming.profileRequest",
        "roaming.session", "roaming.where", "roaming.profileResult", "roaming.limits", "roaming.time"]
        .map((key) => h("th", {}, t(key))))),
      profilesBody),
    h("h3", {}, t("roaming.pushedToUs")),
    h("table", { class: "cards", id: "roaming-pushed-profiles" },
      h("thead", {}, h("tr", {}, ...["roaming.partner", "roaming.session", "roaming.limits", "roaming.received"]
        .map((key) => h("th", {}, t(key))))),
      pushedBody),
    profilesNote,
  );
  void loadPartners().catch((error) => { message.className = "error"; message.textContent = problemText(error); });
  void loadSettlement();
  void loadSessions().catch(() => undefined);
  void loadProfiles().catch((error) => { profilesNote.textContent = problemText(error); });

  // Live: a session starting or ending here, a CDR, a station's profiles changed (a partner's SET
  // accepted among them), a push of a session's profile recorded, or a partner CPO's Session, CDR,
  // profile or result about our driver received reloads the lists they appear in: at most one
  // reload of a list per half second, so a busy network's stream of events cannot postpone it
  // indefinitely.
  const timers = new Map<string, number>();
  const soon = (key: string, load: () => Promise<void>) => {
    if (timers.has(key)) return;
    timers.set(key, window.setTimeout(() => {
      timers.delete(key);
      void load().catch(() => undefined);
    }, 500));
  };
  const stop = live.subscribe((event) => {
    const name = event?.event ?? "";
    if (name.startsWith("Transaction") || name === "CdrCreated") soon("sessions", loadSessions);
    if (name.startsWith("Transaction") || name === "ChargingProfilesChanged" || name === "ActiveProfilePushed") {
      soon("profiles", loadProfiles);
    }
    if (name === "PartnerObjectReceived") {
      const profiles = event?.module === "chargingprofiles";
      soon(profiles ? "profiles" : "sessions", profiles ? loadProfiles : loadSessions);
    }
  });
  return () => { stop(); timers.forEach((timer) => clearTimeout(timer)); };
}

/** A roaming session's status in words: ours (Active, Ended) and OCPI's (ACTIVE, COMPLETED ...)
 * are one vocabulary to the operator; one the console has no words for is shown as it came. */
const SESSION_STATUS: Record<string, string> = {
  Active: "active", ACTIVE: "active", Ended: "completed", COMPLETED: "completed", INVALID: "invalid",
  PENDING: "pending", RESERVATION: "reservation",
};
function sessionStatus(status: string): string {
  const key = SESSION_STATUS[status];
  return key ? t(`roaming.sessionStatus.${key}`) : status;
}
