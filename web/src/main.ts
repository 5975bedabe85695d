// The console: a header with navigation, language and live indicator; pages by URL hash.

import "./style.css";
import { apiKey } from "./api";
import { append, h } from "./dom";
import { LANGUAGES, choose, language, t } from "./i18n";
import { live } from "./live";
import { driver } from "./driver";
import { alertsPage } from "./pages/alerts";
import { dashboardPage } from "./pages/dashboard";
import { driverAccountPage } from "./pages/driverAccount";
import { accountDeletedPage } from "./pages/driverData";
import { driverLoginPage } from "./pages/driverLogin";
import { forgotPasswordPage, resetPasswordPage } from "./pages/driverPassword";
import { findPage } from "./pages/find";
import { loginPage } from "./pages/login";
import { mapPage } from "./pages/map";
import { planningPage } from "./pages/planning";
import { reviewPage } from "./pages/review";
import { sessionsPage } from "./pages/sessions";
import { smartPage } from "./pages/smart";
import { smartSitePage } from "./pages/smartSite";
import { stationPage } from "./pages/station";
import { tripPage } from "./pages/trip";
import { vehiclesPage } from "./pages/vehicles";

/** A page draws into `root` and returns what to undo when the user leaves it. */
export type Page = (root: HTMLElement, ...params: string[]) => (() => void) | void;

/** Driver pages: open to everyone (reserving asks the driver to log in). */
const PUBLIC: [RegExp, Page][] = [
  [/^#\/login$/, loginPage],
  [/^#\/find$/, findPage],
  [/^#\/trip$/, tripPage],
  [/^#\/vehicles$/, vehiclesPage],
  [/^#\/driver\/login$/, driverLoginPage],
  [/^#\/driver\/forgot$/, forgotPasswordPage],
  [/^#\/driver\/reset\/([^/]+)$/, resetPasswordPage],
  [/^#\/driver\/account$/, driverAccountPage],
  [/^#\/driver\/deleted$/, accountDeletedPage],
];

/** Operator pages: need the API key. */
const ROUTES: [RegExp, Page][] = [
  [/^#\/map$/, mapPage],
  [/^#\/map\/([^/]+)$/, mapPage],
  [/^#\/planning$/, planningPage],
  [/^#\/sessions$/, sessionsPage],
  [/^#\/alerts$/, alertsPage],
  [/^#\/review$/, reviewPage],
  [/^#\/smart$/, smartPage],
  [/^#\/smart\/([^/]+)$/, smartSitePage],
  [/^#\/stations\/([^/]+)$/, stationPage],
  [/^#\/?$/, dashboardPage],
];

const NAV: [string, string][] = [
  ["#/", "nav.dashboard"], ["#/map", "nav.map"], ["#/sessions", "nav.sessions"], ["#/alerts", "nav.alerts"],
  ["#/review", "nav.review"], ["#/smart", "nav.smart"],
];
const DRIVER_NAV: [string, string][] = [
  ["#/find", "nav.find"], ["#/trip", "nav.trip"], ["#/vehicles", "nav.vehicles"],
];

function link([href, key]: [string, string]): HTMLAnchorElement {
  const here = location.hash === href || (href === "#/" && !location.hash);
  return h("a", { href, class: here ? "here" : undefined }, t(key));
}

/** The driver's corner of the header: log in, or who is logged in (a link to their account)
 * and log out. */
function driverCorner(): HTMLElement {
  const corner = h("span", { id: "driver-corner" });
  void driver.get().then((account) => corner.replaceChildren(...(account
    ? [h("a", { id: "driver-name", href: "#/driver/account", title: t("driver.accountTitle") }, account.name),
      h("button", { id: "driver-logout", onclick: async () => {
        await driver.logout(); render();
      } }, t("driver.logout"))]
    : [h("a", { id: "driver-login-link", href: "#/driver/login" }, t("driver.loginTitle"))])))
    .catch(() => corner.replaceChildren());
  return corner;
}

let leave: (() => void) | void;

function header(): void {
  const top = document.getElementById("top")!;
  const loggedIn = apiKey.get() !== null;
  const switcher = h("select", {
    id: "language", "aria-label": t("common.language"),
    onchange: (e: Event) => { choose((e.target as HTMLSelectElement).value); render(); },
  }, ...Object.keys(LANGUAGES).map((code) =>
    h("option", { value: code, selected: code === language }, t(`language.${code}`))));
  const indicator = h("span", { id: "live", class: live.connected ? "on" : "off" },
    live.connected ? t("common.live") : t("common.notLive"));
  top.replaceChildren();
  append(top, [
    h("a", { class: "brand", href: "#/" }, t("app.title")),
    h("nav", {}, ...(loggedIn ? NAV.map(link) : []), h("span", { class: "driver-nav" }, ...DRIVER_NAV.map(link))),
    loggedIn ? indicator : null,
    driverCorner(),
    switcher,
    loggedIn
      ? h("button", { id: "logout", onclick: () => { apiKey.clear(); live.stop(); location.hash = "#/login"; } }, t("nav.logout"))
      : h("a", { id: "operator-login", href: "#/login" }, t("nav.operator")),
  ]);
}

function render(): void {
  document.title = t("app.title");
  if (leave) leave();
  const hash = location.hash || "#/";
  const open = PUBLIC.some(([pattern]) => pattern.test(hash));
  if (!apiKey.get() && !open) {
    location.hash = hash === "#/" ? "#/find" : "#/login";
    return;
  }
  if (apiKey.get()) void live.start();
  header();
  const root = document.getElementById("page")!;
  root.replaceChildren();
  for (const [pattern, page] of [...PUBLIC, ...ROUTES]) {
    const match = hash.match(pattern);
    if (match) {
      leave = page(root, ...match.slice(1).map(decodeURIComponent));
      return;
    }
  }
  root.append(h("p", {}, t("common.notFound")));
}

live.subscribe(() => {
  const indicator = document.getElementById("live");
  if (indicator) {
    indicator.className = live.connected ? "on" : "off";
    indicator.textContent = live.connected ? t("common.live") : t("common.notLive");
  }
});

window.addEventListener("hashchange", render);
render();
