// Find a compatible free charger near me: filters, a map, the price in the operator's currency,
// and reserving it (a logged-in driver), with the driver's own reservations below.

import { ApiError, Unreachable, api } from "../api";
import { h } from "../dom";
import { problemCode, problemText } from "../problems";
import { afterLogin, driver, type DriverAccount, type Reservation } from "../driver";
import L from "leaflet";
import { GeoMap, dotIcon } from "../geomap";
import { dateTime, number, money, t, time } from "../i18n";

export const STANDARDS = ["GB/T DC", "GB/T AC", "CCS2", "Type 2", "CHAdeMO"];
const STANDARD_LABEL: Record<string, string> = {
  gbt_dc: "GB/T DC", gbt_ac: "GB/T AC", ccs2: "CCS2", type2: "Type 2", chademo: "CHAdeMO", ccs1: "CCS1",
  type1: "Type 1", nacs: "NACS",
};
/** A connector standard as people call it ("GB/T DC"), not as the API stores it ("gbt_dc"). */
export const standardName = (code: string): string => STANDARD_LABEL[code] ?? code;
/** Where to search when the browser will not say where the driver is. */
export const CITIES: Record<string, [number, number]> = {
  almaty: [43.2389, 76.8897], astana: [51.1694, 71.4491], shymkent: [42.3417, 69.5901],
  bishkek: [42.8746, 74.5698], osh: [40.5283, 72.7985], tashkent: [41.2995, 69.2401],
  samarkand: [39.627, 66.975], bukhara: [39.7747, 64.4286], dushanbe: [38.5598, 68.787],
  khujand: [40.2826, 69.6222],
};
const SESSION_KWH = 30;
const QUERY = "silkcharge.findQuery";

/** At a roaming partner's connector: the partner's own price, and the rate that made ours. */
interface PartnerPrice { currency: string; total_incl_vat: string; rate: string | null; rate_problem: string | null }
interface Price {
  currency: string | null; total_incl_vat: string | null; reason: string | null; tariff?: string | null;
  roaming?: PartnerPrice | null;
}
/** The demo's tariffs (data/seed/business.json) are invented: their codes start with DEMO-. */
const illustrative = (price: Price) => (price.tariff ?? "").startsWith("DEMO-");
interface Connector {
  evse_id: number; connector_id: number; standard: string; max_power_kw: string; status: string;
  error_code: string | null; in_session: boolean; available: boolean; price: Price;
}
interface Station { id: string; offline: boolean; status: string | null; connectors: Connector[] }
interface SiteResult {
  site: { code: string; name: string; city: string | null; lat: number; lon: number };
  /** Set for a roaming partner's site: shown marked, priced at the partner's tariff in our currency. */
  roaming: { partner: string; party: string; location_id: string } | null;
  distance_km: number; available: boolean; stations: Station[];
}

interface PartnerStart {
  id: number; response: string | null; response_message: string | null; result: string | null; result_message: string | null;
}

/** What a station answered the driver's remote start (POST /driver/start). */
interface StationAnswer { station_id: string; status: string | null }

interface Query { standard: string; minPower: string; available: boolean; near: string; radius: string; hold: string }

function savedQuery(): Query {
  const saved = sessionStorage.getItem(QUERY);
  return { standard: "", minPower: "", available: true, near: "me", radius: "10", hold: "30",
    ...(saved ? (JSON.parse(saved) as Partial<Query>) : {}) };
}

function where(near: string): Promise<{ lat: number; lon: number; located: boolean }> {
  const city = (name: string) => ({ lat: CITIES[name][0], lon: CITIES[name][1], located: false });
  if (near !== "me") return Promise.resolve(city(near));
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(city("almaty"));
    navigator.geolocation.getCurrentPosition(
      (position) => resolve({ lat: position.coords.latitude, lon: position.coords.longitude, located: true }),
      () => resolve(city("almaty")),
      { timeout: 8000, maximumAge: 60000 },
    );
  });
}

export function statusText(station: Station, c: Connector): string {
  if (station.offline) return t("state.offline");
  if (c.available) return t("state.available");
  if (c.status === "Reserved") return t("find.reserved");
  if (c.status === "Faulted") return t("state.faulted");
  if (c.status === "Unavailable") return t("state.unavailable");
  return t("find.inUse");
}

function priceText(price: Price): string {
  if (price.total_incl_vat === null || price.currency === null) {
    const theirs = price.roaming;  // a partner's price not yet converted: no rate entered
    if (theirs) return t("find.priceFor", { price: money(theirs.total_incl_vat, theirs.currency), kwh: number(SESSION_KWH, 0) });
    return t("find.noPrice");
  }
  return t("find.priceFor", { price: money(price.total_incl_vat, price.currency), kwh: number(SESSION_KWH, 0) });
}

/** Under a roaming partner's price: the partner's own, or why ours is not known yet. */
function partnerNote(price: Price): HTMLElement | null {
  const theirs = price.roaming;
  if (!theirs) return null;
  const text = price.total_incl_vat === null ? t("find.noRate")
    : theirs.currency === price.currency ? null
    : t("find.partnerPrice", { price: money(theirs.total_incl_vat, theirs.currency) });
  return text === null ? null : h("small", { class: "partner-price" }, text);
}

export function findPage(root: HTMLElement): void {
  const query = savedQuery();
  const field = (label: string, control: HTMLElement) => h("label", {}, h("span", {}, label), control);
  const standard = h("select", { id: "standard" },
    h("option", { value: "" }, t("find.anyStandard")),
    ...STANDARDS.map((s) => h("option", { value: s, selected: s === query.standard }, s)));
  const minPower = h("input", { id: "min-power", type: "number", min: 0, step: 1, value: query.minPower, placeholder: "0" });
  const available = h("input", { id: "available", type: "checkbox", checked: query.available });
  const near = h("select", { id: "near" },
    h("option", { value: "me" }, t("find.nearMe")),
    ...Object.keys(CITIES).map((c) => h("option", { value: c, selected: c === query.near }, t(`city.${c}`))));
  const radius = h("select", { id: "radius" }, ...[5, 10, 25, 50, 100].map((km) =>
    h("option", { value: km, selected: String(km) === query.radius }, `${number(km, 0)} ${t("unit.km")}`)));
  const hold = h("select", { id: "hold" }, ...[15, 30, 60].map((min) =>
    h("option", { value: min, selected: String(min) === query.hold }, t("find.holdFor", { n: number(min, 0) }))));
  const status = h("p", { id: "find-status", class: "hint", role: "status" });
  const message = h("p", { id: "reserve-message", role: "alert" });
  const results = h("div", { id: "results" });
  const mine = h("section", { id: "my-reservations" });
  const free = new WeakSet<L.Marker>();
  const map = new GeoMap("find-map", (markers) => (markers.some((m) => free.has(m)) ? "free" : "busy"));

  const form = h("form", { id: "find-form", class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void search(); } },
    field(t("find.standard"), standard), field(t("find.minPower"), minPower),
    h("label", { class: "check" }, available, ` ${t("find.availableNow")}`),
    field(t("find.near"), near), field(t("find.radius"), radius), field(t("find.hold"), hold),
    h("button", { type: "submit", id: "search" }, t("find.search")));
  root.append(h("h1", {}, t("find.title")), form, status, message,
    h("div", { class: "find-layout" }, map.element, results), mine);

  const remember = (): Query => {
    const q = { standard: standard.value, minPower: minPower.value, available: available.checked,
      near: near.value, radius: radius.value, hold: hold.value };
    sessionStorage.setItem(QUERY, JSON.stringify(q));
    return q;
  };

  /** The logged-in driver, or null after sending them to log in (back to this search after), or
   * null with the reason shown when who is logged in could not be asked. */
  const signedIn = async (): Promise<DriverAccount | null> => {
    remember();
    let account: DriverAccount | null;
    try {
      account = await driver.get();
    } catch (error) {
      message.className = "error";
      message.textContent = `${t("find.whoFailed")}: ${problemText(error)}`;
      return null;
    }
    if (!account) {
      afterLogin.set("#/find");
      location.hash = "#/driver/login";
    }
    return account;
  };

  const reserve = async (station: Station, c: Connector) => {
    const account = await signedIn();
    if (!account) return;
    message.className = "waiting";
    message.textContent = t("find.reserving");
    const expires = new Date(Date.now() + Number(hold.value) * 60_000).toISOString();
    try {
      const made = await api<Reservation>("/driver/reservations", { method: "POST", body: JSON.stringify({
        station_id: station.id, evse_id: c.evse_id, expires_at: expires }) });
      message.className = "ok";
      message.textContent = t("find.reservedOk", { station: made.station_id, evse: made.evse_id, until: time(made.expires_at) });
      void showMine(account);
      void search(false);
    } catch (error) {
      message.className = "error";
      message.dataset.code = problemCode(error) ?? "";
      message.textContent = `${t("find.reserveFailed")}: ${problemText(error)}`;
    }
  };

  /** At a roaming partner's charger: the partner is asked to start it for the driver's card
   * (OCPI START_SESSION), and what the charger did follows. */
  const startAtPartner = async (site: SiteResult, station: Station) => {
    if (!site.roaming || !(await signedIn())) return;
    message.className = "waiting";
    message.textContent = t("find.starting");
    try {
      const sent = await api<PartnerStart>("/driver/roaming/start", { method: "POST", body: JSON.stringify({
        party: site.roaming.party, location_id: site.roaming.location_id, evse_uid: station.id }) });
      if (sent.response !== "ACCEPTED") throw new Error(sent.response_message ?? sent.response ?? "");
      message.textContent = t("find.startAsked", { partner: site.roaming.partner });
      for (let tries = 0; tries < 30; tries++) {  // the charger's answer comes back through the partner
        await new Promise((done) => setTimeout(done, 2000));
        const state = await api<PartnerStart>(`/driver/roaming/commands/${sent.id}`);
        if (state.result === null) continue;
        if (state.result !== "ACCEPTED") throw new Error(state.result_message ?? state.result);
        message.className = "ok";
        message.textContent = t("find.startedAtPartner", { partner: site.roaming.partner });
        return;
      }
    } catch (error) {
      message.className = "error";
      message.textContent = `${t("find.startFailed")}: ${startProblem(error)}`;
    }
  };

  /** At one of our chargers: the station is asked to start for the driver's own card (a remote
   * start); charging begins when the car is plugged in, and shows under the driver's sessions. */
  const startHere = async (station: Station, c: Connector) => {
    if (!(await signedIn())) return;
    message.className = "waiting";
    message.textContent = t("find.startingHere");
    try {
      const answer = await api<StationAnswer>("/driver/start", { method: "POST", body: JSON.stringify({
        station_id: station.id, evse_id: c.evse_id }) });
      if (answer.status !== "Accepted") throw new Error(t("find.startRefused", { status: answer.status ?? "—" }));
      message.className = "ok";
      message.textContent = t("find.startedHere", { station: station.id, evse: c.evse_id });
      void search(false);
    } catch (error) {
      message.className = "error";
      message.textContent = `${t("find.startFailed")}: ${startProblem(error)}`;
    }
  };

  const showMine = async (account: DriverAccount | null) => {
    if (!account) {
      mine.replaceChildren(h("p", { class: "hint" }, t("find.loginToReserve"), " ",
        h("a", { href: "#/driver/login", onclick: () => { remember(); afterLogin.set("#/find"); } }, t("driver.login"))));
      return;
    }
    const list = await api<Reservation[]>("/driver/reservations");
    const active = list.filter((r) => r.status === "Accepted" || r.status === "Requested");
    mine.replaceChildren(h("h2", {}, t("find.mine")), active.length === 0 ? h("p", {}, t("find.noneMine")) : h("table", { class: "cards" },
      h("thead", {}, h("tr", {}, ...[t("col.station"), "EVSE", t("find.until"), t("col.status"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, ...active.map((r) => h("tr", { "data-reservation": r.id },
        h("td", {}, r.station_id), h("td", {}, r.evse_id), h("td", {}, dateTime(r.expires_at)),
        h("td", {}, t(`reservation.${r.status}`)),
        h("td", {}, h("button", { class: "cancel", onclick: async () => {
          try {
            await api(`/driver/reservations/${r.id}`, { method: "DELETE" });
            message.className = "ok";
            message.textContent = t("find.cancelled");
          } catch (error) {
            message.className = "error";
            message.textContent = problemText(error);
          }
          void showMine(account);
        } }, t("find.cancel"))))))));
  };

  const draw = (list: SiteResult[], centre: { lat: number; lon: number }, km: number) => {
    map.clear();
    const dLat = km / 111, dLon = km / (111 * Math.cos((centre.lat * Math.PI) / 180));
    map.fit({ south: centre.lat - dLat, north: centre.lat + dLat, west: centre.lon - dLon, east: centre.lon + dLon }, 0.05);
    map.overlay.addLayer(L.circle([centre.lat, centre.lon], { radius: km * 1000, className: "radius", interactive: false }));
    map.overlay.addLayer(L.marker([centre.lat, centre.lon], { icon: dotIcon("here", 14), interactive: false }));
    for (const result of list) {
      const marker = L.marker([result.site.lat, result.site.lon], { title: result.site.name,
        icon: dotIcon(`site ${result.available ? "free" : "busy"}${result.roaming ? " roaming" : ""}`, 16,
          { "data-site": result.site.code }) });
      if (result.available) free.add(marker);
      marker.on("click", () => document.querySelector(`article[data-site="${result.site.code}"]`)?.scrollIntoView({ behavior: "smooth" }));
      map.stations.addLayer(marker);
    }
    results.replaceChildren(...(list.length === 0 ? [h("p", {}, t("find.none"))] : list.map((result) =>
      h("article", { class: result.roaming ? "result roaming" : "result", "data-site": result.site.code },
        h("h2", {}, result.site.name, h("span", { class: "hint" },
          ` · ${result.site.city ?? ""} · ${number(result.distance_km)} ${t("unit.km")}`),
          result.roaming ? h("span", { class: "roaming-badge" }, t("find.roaming", { partner: result.roaming.partner })) : null),
        h("table", { class: "cards" }, h("tbody", {}, ...result.stations.flatMap((station) => station.connectors.map((c) =>
          h("tr", { "data-station": station.id, "data-evse": c.evse_id, class: c.available ? "free" : "busy" },
            h("td", {}, station.id, h("br", {}), h("span", { class: "hint" }, `${c.evse_id}/${c.connector_id}`)),
            h("td", {}, standardName(c.standard), h("br", {}),
              h("span", { class: "hint" }, `${number(Number(c.max_power_kw), 0)} ${t("unit.kw")}`)),
            h("td", { class: "status" }, statusText(station, c)),
            h("td", { class: "price" }, priceText(c.price),
              illustrative(c.price) ? h("small", { class: "illustrative" }, h("br", {}), t("find.illustrative")) : null,
              partnerNote(c.price)),
            // a partner's charger is started through the partner (OCPI commands), not reserved here
            ...(!c.available ? [h("td", {})] : result.roaming
              ? [h("td", {}, h("button", { class: "start-partner", onclick: () => void startAtPartner(result, station) },
                  t("find.start")))]
              : [h("td", { class: "actions" },
                  h("button", { class: "reserve", onclick: () => void reserve(station, c) }, t("find.reserve")), " ",
                  h("button", { class: "start-here", onclick: () => void startHere(station, c) }, t("find.start")))]),
          )))))))));
  };

  /** Search again; `fresh` (a new search, not a refresh after reserving) clears the message. */
  const search = async (fresh = true) => {
    const q = remember();
    if (fresh) { message.textContent = ""; message.className = ""; }
    status.textContent = t("find.locating");
    const centre = await where(q.near);
    const params = new URLSearchParams({ lat: String(centre.lat), lon: String(centre.lon), radius_km: q.radius,
      available: String(q.available), limit: "30", kwh: String(SESSION_KWH) });
    if (q.standard) params.set("standard", q.standard);
    if (q.minPower) params.set("min_power_kw", q.minPower);
    const account = await driver.get().catch(() => null);
    if (account?.tokens[0]) params.set("token", account.tokens[0]);
    try {
      const found = await api<{ count: number; results: SiteResult[] }>(`/search/stations?${params}`);
      status.textContent = (q.near === "me" && !centre.located ? t("find.noLocation") + " " : "") +
        t("find.count", { n: number(found.count, 0) });
      draw(found.results, centre, Number(q.radius));
    } catch (error) {
      status.textContent = error instanceof ApiError ? String(error.detail) : t("common.error");
    }
  };

  void search();
  void driver.get().then(showMine).catch(() => showMine(null));
}

/** Why a start did not happen: the page's own (translated) words for a charger's answer, else
 * the API's refusal or the network's failure in the console's words. */
function startProblem(error: unknown): string {
  return error instanceof Error && !(error instanceof ApiError) && !(error instanceof Unreachable)
    ? error.message : problemText(error);
}
