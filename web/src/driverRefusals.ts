// Why the API refused a driver's account request, in the console's language. The API gives
// its reasons as English sentences (docs/driver.md lists them); the known ones are shown
// translated, and one the console does not know yet is shown as the API words it.

import { ApiError, Unreachable } from "./api";
import { number, t, time } from "./i18n";

/** The password rule of the API (services/drivers.py), also checked in the forms. */
export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 128;

/** The start of each reason the API gives, and the string that says it in the console. */
const REASONS: [RegExp, string][] = [
  [/^wrong email or password/, "driver.wrong"],
  [/exists already/, "driver.exists"],
  [/^too many failed logins for this email/, "driver.tooManyLoginsEmail"],
  [/^too many failed logins from this address/, "driver.tooManyLoginsAddress"],
  [/^a reset link was asked for this email several times/, "driver.tooManyResetsEmail"],
  [/^too many password resets asked from this address/, "driver.tooManyResetsAddress"],
  [/^this reset link is unknown/, "driver.linkUnknown"],
  [/^this reset link was used already/, "driver.linkUsed"],
  [/^this reset link has expired/, "driver.linkExpired"],
  [/^the current password is wrong/, "driver.wrongCurrent"],
  [/^the password is wrong/, "driver.wrongPassword"],
  [/is still charging; delete the account/, "driver.stillCharging"],
  [/^the new password is the same as the current one/, "driver.samePassword"],
  [/^a password needs/, "driver.passwordRule"],
  [/is not an email address/, "driver.notEmail"],
];

/** FastAPI's own 422 lists the fields it refused; a password field out of bounds is the
 * password rule, anything else is shown as FastAPI says it. */
function fieldErrors(detail: { loc?: unknown[]; msg?: string }[]): string {
  if (detail.some((item) => String(item.loc?.at(-1) ?? "").endsWith("password"))) {
    return t("driver.passwordRule", { min: number(MIN_PASSWORD, 0), max: number(MAX_PASSWORD, 0) });
  }
  return detail.map((item) => item.msg ?? "").join("; ");
}

/** When a refused attempt may be made again: minutes (rounded up) and the clock time. */
function retryText(seconds: number): string {
  return t("driver.retryIn", {
    n: number(Math.max(1, Math.ceil(seconds / 60)), 0),
    at: time(new Date(Date.now() + seconds * 1000).toISOString()),
  });
}

/** Which of the known reasons the API's detail is, if any: the string key. */
export function reasonKey(error: unknown): string | null {
  if (!(error instanceof ApiError) || typeof error.detail !== "string") return null;
  const detail = error.detail;
  return REASONS.find(([pattern]) => pattern.test(detail))?.[1] ?? null;
}

/** The refusal in plain words; a 429 also says when to try again. */
export function refusal(error: unknown): string {
  if (error instanceof Unreachable) return t("common.unreachable");
  if (!(error instanceof ApiError)) return t("common.error");
  const key = reasonKey(error);
  let text: string;
  if (key) text = t(key, { min: number(MIN_PASSWORD, 0), max: number(MAX_PASSWORD, 0) });
  else if (Array.isArray(error.detail)) text = fieldErrors(error.detail);
  else if (error.status === 429) text = t("driver.tooMany");
  else text = error.detail ? String(error.detail) : t("common.error");
  return error.status === 429 && error.retryAfter !== null ? `${text} ${retryText(error.retryAfter)}` : text;
}
