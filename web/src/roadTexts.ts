// The road data's own texts (border crossings' and passes' names, their notes, opening hours)
// in the console's language. The planner names them as `{key, params, unverified, text}`
// (trips/texts.py); the words of each language come from the API
// (/console/road-texts?lang=..., data/roads/notes.json and place_names.json), once per language.
// `text` is the English, shown only if a key is unknown.

import { api } from "./api";
import { language, number } from "./i18n";

export interface RoadText { key: string; params: Record<string, unknown>; unverified: boolean; text: string }

const tables = new Map<string, Promise<Record<string, string>>>();
let table: Record<string, string> = {};
let tableLanguage = "";

/** Fetch the texts of the console's language (once); call before wording a plan. */
export async function loadRoadTexts(): Promise<void> {
  const lang = language;
  if (!tables.has(lang)) {
    const request = api<{ texts: Record<string, string> }>(`/console/road-texts?lang=${lang}`).then((b) => b.texts);
    request.catch(() => tables.delete(lang)); // try again next time
    tables.set(lang, request);
  }
  const loaded = await tables.get(lang)!;
  table = loaded;
  tableLanguage = lang;
}

export function isRoadText(value: unknown): value is RoadText {
  return typeof value === "object" && value !== null && "key" in value && "text" in value;
}

/** A road text in the console's language, with the "unverified" marker if it is unchecked. */
export function roadText(value: RoadText): string {
  const template = tableLanguage === language ? table[value.key] : undefined;
  if (template === undefined) return value.text;
  let text = template.replace(/\{(\w+)\}/g, (_, name: string) => word(value.params[name]));
  if (value.unverified) text += ` ${table["marker.unverified"] ?? ""}`;
  return text;
}

/** A message parameter as words: road texts translated, lists joined, numbers localised. */
export function word(value: unknown): string {
  if (Array.isArray(value)) return value.map(word).join(", ");
  if (isRoadText(value)) return roadText(value);
  if (typeof value === "number") return number(value, 0);
  return String(value ?? "");
}
