// A station's charging profiles on its page (smart charging, OCPP 2.0.1 K08-K10): what
// silkcharge installed there, clearing one, what a 2.0.1 station reports it holds, and its
// composite schedule checked against silkcharge's own.

import { ApiError, api } from "../api";
import { h, table } from "../dom";
import { dateTime, t } from "../i18n";
import { problemText } from "../problems";
import { speaks201 } from "../ocpp";

interface Period { start_period: number; limit: string | null }
interface Installed {
  evse_id: number; source: string; installed_at: string;
  profile: { id: number; purpose: string; stack_level: number; kind: string; transaction_id: string | null;
    schedule: { rate_unit: string; periods: Period[] } };
}
interface Reported { request_id: number; evse_id: number; limit_source: string; reported_at: string;
  profiles: { id: number; chargingProfilePurpose: string; stackLevel: number }[] }
interface LocalController { controller_id: string; stations: string[]; behind: string | null }
interface Composite {
  status: string | null; agree: boolean; differences: string[];
  station: { rate_unit: string; periods: Period[] } | null;
  computed: { rate_unit: string; periods: Period[] };
}

function limits(periods: Period[], unit: string): string {
  return periods.map((p) => `${p.start_period} s: ${p.limit ?? "–"} ${unit}`).join(" · ");
}

export function smartSection(stationId: string): {
  element: HTMLElement; load: (version: string | null) => Promise<void>;
} {
  const id = encodeURIComponent(stationId);
  let version: string | null = null;
  const installedList = h("div", { id: "charging-profile-list" });
  const reportedList = h("div", { id: "reported-profiles" });
  const compositeResult = h("div", { id: "composite-result", "aria-live": "polite" });
  const reply = h("pre", { class: "reply", id: "profile-reply", "aria-live": "polite" });

  const failed = (error: unknown) => {
    reply.className = "reply failed";
    reply.textContent = `${t("common.error")}: ${error instanceof ApiError ? JSON.stringify(error.detail) : String(error)}`;
  };

  const act = async (path: string, init: RequestInit) => {
    reply.className = "reply waiting";
    reply.textContent = t("station.waiting");
    try {
      const result = await api<{ status: string | null }>(path, init);
      reply.className = "reply ok";
      reply.textContent = `${t("station.reply")}: ${result.status ?? "–"}`;
    } catch (error) {
      failed(error);
    }
    await load(version);
  };

  const load = async (ocppVersion: string | null) => {
    version = ocppVersion;
    let body: { installed: Installed[]; reported: Reported[] };
    try {
      body = await api(`/smart/stations/${id}/profiles`);
    } catch {
      installedList.replaceChildren(h("p", { class: "error" }, t("common.error")));
      return;
    }
    installedList.replaceChildren(body.installed.length === 0 ? h("p", {}, t("smart.profilesNone")) : table(
      ["EVSE", t("smart.profileId"), t("smart.profilePurpose"), t("smart.profileStackLevel"),
        t("smart.profileLimits"), t("smart.profileSource"), t("col.since"), ""],
      body.installed.map((row) => [
        row.evse_id, row.profile.id, row.profile.purpose, row.profile.stack_level,
        limits(row.profile.schedule.periods, row.profile.schedule.rate_unit),
        t(`smart.profileSource_${row.source}`), dateTime(row.installed_at),
        h("button", { type: "button", class: "clear-profile", "data-profile": row.profile.id,
          onclick: () => void act(`/smart/stations/${id}/profiles?profile_id=${row.profile.id}`, { method: "DELETE" }) },
        t("smart.profileClear")),
      ]),
      { id: "charging-profile-table" },
    ));
    reportedList.hidden = !speaks201(ocppVersion);
    reportedList.replaceChildren(
      h("h3", {}, t("smart.profilesReported")),
      h("button", { type: "button", id: "profiles-report",
        // K09: the report follows the answer; its live event (ChargingProfilesReported)
        // reloads the page, as any event of this station does.
        onclick: () => void act(`/smart/stations/${id}/profiles/report`, { method: "POST", body: "{}" }) },
      t("smart.profilesAsk")),
      body.reported.length === 0 ? h("p", {}, t("smart.profilesNoneReported")) : table(
        [t("smart.profileRequest"), "EVSE", t("smart.profileSource"), t("smart.profileId"), t("col.time")],
        body.reported.map((r) => [r.request_id, r.evse_id, r.limit_source,
          r.profiles.map((p) => `${p.id} ${p.chargingProfilePurpose} (${p.stackLevel})`).join(", "),
          dateTime(r.reported_at)]),
        { id: "reported-table" }),
    );
  };

  // K03: a local controller is a station that manages others on its own connection; a limit it
  // reports (NotifyChargingLimit) holds for the stations behind it.
  const controllerState = h("p", { id: "controller-state" });
  const controllerStations = h("input", { type: "text", id: "controller-stations", size: 40,
    placeholder: "KZ-ALA-001-B, KZ-ALA-001-C" }) as HTMLInputElement;
  const controllerReply = h("p", { id: "controller-reply", "aria-live": "polite" });
  // Read when the page opens and after a save only (it changes by this form), not on each of the
  // station's live events, which reload the profiles above.
  const showController = (found: LocalController) => {
    controllerStations.value = found.stations.join(", ");
    controllerState.replaceChildren(...(found.behind
      ? [t("smart.controllerBehind"), " ",
        h("a", { href: `#/stations/${encodeURIComponent(found.behind)}` }, found.behind)]
      : [found.stations.length ? t("smart.controllerOf", { count: found.stations.length }) : t("smart.controllerNone")]));
  };
  const loadController = async () => {
    try {
      showController(await api<LocalController>(`/smart/local-controllers/${id}`));
    } catch (error) {
      controllerState.textContent = problemText(error);
    }
  };
  const saveController = async (e: Event) => {
    e.preventDefault();
    const stations = controllerStations.value.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
    controllerReply.className = "waiting";
    controllerReply.textContent = t("station.waiting");
    try {
      await api(`/smart/local-controllers/${id}`, { method: "PUT", body: JSON.stringify({ stations }) });
      controllerReply.className = "ok";
      controllerReply.textContent = t("smart.controllerSaved", { count: stations.length });
      await loadController();
    } catch (error) {  // what was typed stays, to be corrected
      controllerReply.className = "error";
      controllerReply.textContent = problemText(error);
    }
  };

  const evse = h("input", { type: "number", id: "composite-evse", min: 0, value: 1, required: true });
  const duration = h("input", { type: "number", id: "composite-duration", min: 1, max: 86400, value: 3600 });
  const check = async (e: Event) => {
    e.preventDefault();
    compositeResult.replaceChildren(h("p", { class: "waiting" }, t("station.waiting")));
    try {
      const c = await api<Composite>(
        `/smart/stations/${id}/composite?evse_id=${Number(evse.value)}&duration=${Number(duration.value)}`);
      compositeResult.replaceChildren(
        h("p", { class: c.agree ? "ok" : "error", id: "composite-verdict" },
          c.station === null ? `${t("station.reply")}: ${c.status ?? "–"}`
            : c.agree ? t("smart.compositeAgree") : t("smart.compositeDisagree")),
        h("dl", {},
          h("dt", {}, t("smart.compositeStation")),
          h("dd", {}, c.station ? limits(c.station.periods, c.station.rate_unit) : "–"),
          h("dt", {}, t("smart.compositeComputed")),
          h("dd", {}, limits(c.computed.periods, c.computed.rate_unit))),
        ...c.differences.map((d) => h("p", { class: "difference" }, d)),
      );
    } catch (error) {
      compositeResult.replaceChildren();
      failed(error);
    }
  };

  const element = h("section", { id: "station-smart" },
    h("h2", {}, t("smart.profilesTitle")),
    installedList,
    h("form", { id: "composite-form", onsubmit: check },
      h("h3", {}, t("smart.composite")),
      h("label", {}, h("span", {}, "EVSE"), evse),
      h("label", {}, h("span", {}, t("smart.compositeDuration")), duration),
      h("button", { type: "submit", id: "composite-check" }, t("smart.compositeCheck"))),
    compositeResult,
    reportedList,
    reply,
    h("form", { id: "controller-form", onsubmit: saveController },
      h("h3", {}, t("smart.controllerTitle")),
      h("p", { class: "hint" }, t("smart.controllerHint")),
      controllerState,
      h("label", {}, h("span", {}, t("smart.controllerStations")), controllerStations),
      h("button", { type: "submit", id: "controller-save" }, t("smart.controllerSave"))),
    controllerReply,
  );
  void loadController();
  return { element, load };
}
