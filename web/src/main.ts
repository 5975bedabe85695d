// The console: a header with navigation, language and live indicator; pages by URL hash.

import "./style.css";
import { apiKey } from "./api";
import { append, h } from "./dom";
import { LANGUAGES, choose, language, t } from "./i18n";
import { live } from "./live";
import { alertsPage } from "./pages/alerts";
import { dashboardPage } from "./pages/dashboard";
import { loginPage } from "./pages/login";
import { mapPage } from "./pages/map";
import { sessionsPage } from "./pages/sessions";
import { stationPage } from "./pages/station";

/** A page draws into `root` and returns what to undo when the user leaves it. */
export type Page = (root: HTMLElement, ...params: string[]) => (() => void) | void;

const ROUTES: [RegExp, Page][] = [
  [/^#\/login$/, loginPage],
  [/^#\/map$/, mapPage],
  [/^#\/sessions$/, sessionsPage],
  [/^#\/alerts$/, alertsPage],
  [/^#\/stations\/([^/]+)$/, stationPage],
  [/^#\/?$/, dashboardPage],
];

const NAV: [string, string][] = [
  ["#/", "nav.dashboard"], ["#/map", "nav.map"], ["#/sessions", "nav.sessions"], ["#/alerts", "nav.alerts"],
];

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
    h("nav", {}, ...(loggedIn ? NAV.map(([href, key]) =>
      h("a", { href, class: location.hash === href || (href === "#/" && !location.hash) ? "here" : undefined }, t(key))) : [])),
    loggedIn ? indicator : null,
    switcher,
    loggedIn
      ? h("button", { id: "logout", onclick: () => { apiKey.clear(); live.stop(); location.hash = "#/login"; } }, t("nav.logout"))
      : null,
  ]);
}

function render(): void {
  document.title = t("app.title");
  if (leave) leave();
  const hash = location.hash || "#/";
  if (!apiKey.get() && hash !== "#/login") {
    location.hash = "#/login";
    return;
  }
  if (apiKey.get()) void live.start();
  header();
  const root = document.getElementById("page")!;
  root.replaceChildren();
  for (const [pattern, page] of ROUTES) {
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
