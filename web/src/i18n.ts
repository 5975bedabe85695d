// UI strings from i18n/*.json, the language from the switcher or the browser, and Intl
// formatting for that language. Every language has every key of en.json (tests/web checks).

import en from "./i18n/en.json";
import ru from "./i18n/ru.json";
import kk from "./i18n/kk.json";
import uz from "./i18n/uz.json";
import ky from "./i18n/ky.json";
import tg from "./i18n/tg.json";
import zh from "./i18n/zh.json";

type Strings = Record<string, string>;

/** Language code → its strings, the locale Intl formats with, and the one it formats with
 * where the browser has no formats for that locale (`formatLocale`). */
export const LANGUAGES: Record<string, { strings: Strings; locale: string; fallback?: string }> = {
  en: { strings: en, locale: "en-GB" },
  ru: { strings: ru, locale: "ru-RU" },
  kk: { strings: kk, locale: "kk-KZ", fallback: "ru-KZ" },
  uz: { strings: uz, locale: "uz-Latn-UZ", fallback: "ru-UZ" },
  ky: { strings: ky, locale: "ky-KG", fallback: "ru-KG" },
  tg: { strings: tg, locale: "tg-TJ", fallback: "ru-TJ" },
  zh: { strings: zh, locale: "zh-CN" },
};

/** The locale a language's dates, numbers and money are formatted with. Kazakh, Uzbek, Kyrgyz
 * and Tajik write 1 234,5 and 24-hour times (CLDR), but a browser may lack their formats:
 * Chromium ships none for Kyrgyz and Tajik (they come out as "12/7/26, 7:38 AM" and "1,234.5",
 * its default's) and only the root locale's for Kazakh and Uzbek ("2026-12-07 07:38",
 * "1,234.5"), where a decimal point reads as a thousands separator to the people of the region.
 * There the country's Russian formats are used: 07.12.2026, 07:38 and 1 234,5, as the region's
 * documents write them in Russian, an official or common language in all four. */
function formatLocale(code: string): string {
  const { locale, fallback } = LANGUAGES[code];
  if (!fallback) return locale;
  const decimal = new Intl.NumberFormat(locale).formatToParts(1.5).find((part) => part.type === "decimal")?.value;
  return Intl.NumberFormat.supportedLocalesOf([locale]).length > 0 && decimal === "," ? locale : fallback;
}
const formats = new Map<string, string>();

const CHOSEN = "silkcharge.language";

function pick(): string {
  const chosen = localStorage.getItem(CHOSEN);
  if (chosen && chosen in LANGUAGES) return chosen;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const code = tag.toLowerCase().split("-")[0];
    if (code in LANGUAGES) return code;
  }
  return "en";
}

export let language = pick();
let strings: Strings = LANGUAGES[language].strings;

/** Keys asked for that the current language lacks; the browser tests read it. */
export const missing = new Set<string>();
(window as unknown as { silkchargeMissing: Set<string> }).silkchargeMissing = missing;

export function choose(code: string): void {
  localStorage.setItem(CHOSEN, code);
  language = code;
  strings = LANGUAGES[code].strings;
  document.documentElement.lang = code;
}
document.documentElement.lang = language;

export function t(key: string, values: Record<string, string | number> = {}): string {
  let text = strings[key];
  if (text === undefined) {
    missing.add(key);
    text = (en as Strings)[key] ?? key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** Whether the console has words for a key (every language has every key of English). */
export function known(key: string): boolean {
  return key in (en as Strings);
}

const locale = (): string => {
  let found = formats.get(language);
  if (found === undefined) formats.set(language, found = formatLocale(language));
  return found;
};

export function number(value: number, digits = 1): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

export function kwh(wh: number | string | null | undefined): string {
  if (wh === null || wh === undefined) return "–";
  return `${number(Number(wh) / 1000)} ${t("unit.kwh")}`;
}

/** Money in the locale's style. An exact decimal string is formatted without passing through
 * a float (Intl formats numeric strings exactly). */
export function money(amount: number | string, currency: string): string {
  const format = new Intl.NumberFormat(locale(), { style: "currency", currency }).format as (v: number | string) => string;
  return format(amount);
}

/** The locale Intl formats with, for pages that format something of their own. */
export function currentLocale(): string {
  return locale();
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return "–";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" })
    .format(new Date(value));
}

export function time(value: string | null | undefined): string {
  if (!value) return "–";
  return new Intl.DateTimeFormat(locale(), { timeStyle: "medium" }).format(new Date(value));
}
