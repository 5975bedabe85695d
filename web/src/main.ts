// The console: a header with navigation, language and live indicator; pages by URL hash.

import "./style.css";
import { ApiError } from "./api";
import { append, h } from "./dom";
import { LANGUAGES, choose, language, t } from "./i18n";
import { live } from "./live";
import { driver } from "./driver";
import { PAGES, can, home, mayOpen, session } from "./permissions";
import { accountPage } from "./pages/account";
import { alertsPage } from "./pages/alerts";
import { auditPage } from "./pages/audit";
import { capsPage } from "./pages/caps";
import { dashboardPage } from "./pages/dashboard";
import { driverAccountPage } from "./pages/driverAccount";
import { accountDeletedPage } from "./pages/driverData";
import { driverLoginPage } from "./pages/driverLogin";
import { forgotPasswordPage, resetPasswordPage } from "./pages/driverPassword";
import { findPage } from "./pages/find";
import { loginPage } from "./pages/login";
import { mapPage } from "./pages/map";
import { peoplePage } from "./pages/people";
import { planningPage } from "./pages/planning";
import { reviewPage } from "./pages/review";
import { roamingPage } from "./pages/roaming";
import { sessionsPage } from "./pages/sessions";
import { sitesPage } from "./pages/sites";
import { smartPage } from "./pages/smart";
import { smartSitePage } from "./pages/smartSite";
import { stationPage } from "./pages/station";
import { tariffsPage } from "./pages/tariffs";
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

/** Operator pages: need a signed-in person or an API key, and the permission PAGES names. */
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
  [/^#\/tariffs$/, tariffsPage],
  [/^#\/caps$/, capsPage],
  [/^#\/audit$/, auditPage],
  [/^#\/people$/, peoplePage],
  [/^#\/account$/, accountPage],
  [/^#\/sites$/, sitesPage],
  [/^#\/roaming$/, roamingPage],
  [/^#\/?$/, dashboardPage],
];

const NAV: [string, string][] = [
  ["#/", "nav.dashboard"], ["#/map", "nav.map"], ["#/sessions", "nav.sessions"], ["#/alerts", "nav.alerts"],
  ["#/review", "nav.review"], ["#/smart", "nav.smart"], ["#/tariffs", "nav.tariffs"], ["#/caps", "nav.caps"],
  ["#/audit", "nav.audit"], ["#/people", "nav.people"], ["#/roaming", "nav.roaming"],
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

/** Who is signed in: the person's name (or the key's) and their role. */
function whoCorner(): HTMLElement | null {
  const me = session.me;
  if (!me) return null;
  return h("span", { id: "operator-who", title: me.role_description },
    h("a", { id: "operator-name", href: "#/account", title: t("account.title") }, me.person ?? me.name), " · ",
    h("span", { id: "operator-role", "data-role": me.role }, t(`role.${me.role}`)));
}

async function logout(): Promise<void> {
  live.stop();
  await session.logout();
  location.hash = "#/login";
}

function header(): void {
  const top = document.getElementById("top")!;
  const loggedIn = session.me !== null;
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
    h("nav", {}, ...(loggedIn ? NAV.filter(([href]) => mayOpen(href)).map(link) : []), h("span", { class: "driver-nav" }, ...DRIVER_NAV.map(link))),
    loggedIn && can(...PAGES[""]) ? indicator : null,
    whoCorner(),
    driverCorner(),
    switcher,
    loggedIn
      ? h("button", { id: "logout", onclick: () => void logout() }, t("nav.logout"))
      : h("a", { id: "operator-login", href: "#/login" }, t("nav.operator")),
  ]);
}

function render(): void {
  document.title = t("app.title");
  if (leave) leave();
  const hash = location.hash || "#/";
  const open = PUBLIC.some(([pattern]) => pattern.test(hash));
  if (!session.me && !open) {
    location.hash = hash === "#/" ? "#/find" : "#/login";
    return;
  }
  if (session.me && !open && hash === "#/" && !mayOpen(hash)) {
    location.hash = home();  // a regulator starts at cap compliance, say
    return;
  }
  if (session.me && can("network:read")) void live.start();
  header();
  const root = document.getElementById("page")!;
  root.replaceChildren();
  if (!open && !mayOpen(hash)) {
    root.append(h("p", { class: "error", id: "not-allowed" }, t("common.notAllowed")));
    return;
  }
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
// A request a page left in flight when the session ended (logged out in this tab, or expired
// on the server) answers 401: not the page's error but a reason to sign in again. Signed out
// already: nothing to do; signed in: ask who we are, and go to the sign-in page if no one.
window.addEventListener("unhandledrejection", (event) => {
  if (!(event.reason instanceof ApiError) || event.reason.status !== 401) return;
  event.preventDefault();
  if (!session.me) return;
  void session.load().catch(() => null).then((who) => { if (!who) location.hash = "#/login"; });
});
// Who is signed in (a session cookie or this tab's key) is asked once, before the first page.
void session.load().catch(() => null).then(render);
