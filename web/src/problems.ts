// Why the API or a station said no, in the console's language. The API names the reason with
// a message code (`code` and `params` in its error body: a station that is offline, silent or
// answers with a CALLERROR; a reservation refused); the console words it, and never shows the
// OCPP or Python text for it. A refusal without a code (a form value the API refused, say) is
// shown as a sentence for its HTTP status followed by the API's own words, which an operator
// needs to correct the form.

import { ApiError, Unreachable } from "./api";
import { known, t } from "./i18n";

interface CodedBody {
  code?: string;
  params?: Record<string, string | number>;
}

/** Codes whose wording depends on one parameter: the key suffix is that parameter's value. */
const BY_PARAM: Record<string, string> = {
  station_callerror: "error_code",
  station_declined: "status",
  reservation_answered: "status",
  token_not_accepted: "status",
};

/** The message code of a refusal, if the API gave one (pages put it in `data-code`). */
export function problemCode(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  return ((error.body ?? {}) as CodedBody).code ?? null;
}

/** The translated sentence for a coded refusal, or null when it has no code the console knows. */
export function explained(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  const body = (error.body ?? {}) as CodedBody;
  if (!body.code) return null;
  const params = body.params ?? {};
  const by = BY_PARAM[body.code];
  const specific = by ? `why.${body.code}.${params[by]}` : null;
  if (specific && known(specific)) return t(specific, params);
  return known(`why.${body.code}`) ? t(`why.${body.code}`, params) : null;
}

/** What went wrong, for a reply box or a message line. */
export function problemText(error: unknown): string {
  const plain = explained(error);
  if (plain) return plain;
  if (error instanceof Unreachable) return t("common.unreachable");
  if (!(error instanceof ApiError)) return `${t("common.error")}: ${String(error)}`;
  const status = known(`why.http.${error.status}`) ? t(`why.http.${error.status}`) : t("common.error");
  const detail = error.detail;
  if (detail === null || detail === undefined || detail === "") return status;
  return `${status}\n${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
}
