// CDRs held for review: sessions built on what a charger reported that could not be true (a
// register beyond the connector's power, a clock in 1970...). Each shows why it was held and
// what the charger sent; the operator approves it, corrects it (the price is computed again)
// or voids it. Other review states can be listed too.

import { ApiError, api } from "../api";
import { h } from "../dom";
import { dateTime, kwh, money, t } from "../i18n";
import type { Transaction } from "./dashboard";
import { can } from "../permissions";

interface Review {
  status: string; reasons: string[]; held_at: string; decided_at: string | null; note: string | null;
  correction: Record<string, string> | null; held_totals: Record<string, string>;
}
interface Cdr {
  id: string; transaction_id: number | null; currency: string; total_incl_vat: string; flags: string[];
  billed: boolean; review: Review | null; cdr: { start_date_time: string; end_date_time: string; total_energy: string };
}
interface Flag {
  rule: string; field: string; value: string; used: string | null; reason: string; message_id: string | null;
}
type Session = Transaction & { flags: Flag[] };

const STATUSES = ["held", "approved", "corrected", "voided"];

/** "2026-12-01T10:00" (a datetime-local input, the browser's zone) as UTC ISO, or undefined. */
function instant(input: HTMLInputElement): string | undefined {
  return input.value ? new Date(input.value).toISOString() : undefined;
}

function failure(error: unknown): string {
  if (error instanceof ApiError && typeof error.detail === "string") return error.detail;
  return t("common.error");
}

function flagRows(flags: Flag[]): HTMLElement {
  return h("ul", { class: "flags" }, ...flags.map((f) => h("li", { "data-rule": f.rule },
    h("code", {}, f.rule), " ", f.reason,
    h("span", { class: "hint" }, ` · ${t("review.sent")}: `, h("code", {}, f.value),
      f.message_id ? ` · ${t("review.message")} ${f.message_id}` : ""))));
}

function decisionForms(cdr: Cdr, done: () => void): HTMLElement {
  const message = h("p", { class: "error", role: "alert" });
  const note = h("input", { type: "text", name: "note", maxlength: 500, placeholder: t("review.notePlaceholder") });
  const energy = h("input", { type: "number", name: "energy_kwh", min: 0, step: "0.001" });
  const started = h("input", { type: "datetime-local", name: "started_at", step: 1 });
  const stopped = h("input", { type: "datetime-local", name: "stopped_at", step: 1 });
  const decide = async (action: string, body: Record<string, unknown>) => {
    message.textContent = "";
    try {
      await api(`/cdrs/${encodeURIComponent(cdr.id)}/${action}`, { method: "POST", body: JSON.stringify(body) });
      done();
    } catch (error) {
      message.textContent = failure(error);
    }
  };
  const withNote = () => (note.value.trim() ? { note: note.value.trim() } : {});
  const noted = (action: string, body: () => Record<string, unknown>) => () => {
    if (!note.value.trim()) {
      message.textContent = t("review.noteNeeded");
      note.focus();
      return;
    }
    void decide(action, body());
  };
  return h("div", { class: "decision" },
    h("label", {}, h("span", {}, t("review.note")), note),
    h("div", { class: "actions" },
      h("button", { class: "approve", onclick: () => void decide("approve", withNote()) }, t("review.approve")),
      h("button", { class: "void", onclick: noted("void", withNote) }, t("review.void"))),
    h("fieldset", { class: "correct" },
      h("legend", {}, t("review.correctTitle")),
      h("label", {}, h("span", {}, t("review.energy")), energy),
      h("label", {}, h("span", {}, t("review.start")), started),
      h("label", {}, h("span", {}, t("review.end")), stopped),
      h("button", { class: "correct", onclick: noted("correct", () => ({
        ...withNote(),
        ...(energy.value !== "" ? { energy_wh: String(Math.round(Number(energy.value) * 1000)) } : {}),
        ...(instant(started) ? { started_at: instant(started) } : {}),
        ...(instant(stopped) ? { stopped_at: instant(stopped) } : {}),
      })) }, t("review.correct"))),
    message);
}

function article(cdr: Cdr, session: Session | null, done: () => void): HTMLElement {
  const review = cdr.review!;
  return h("article", { class: `alert review ${review.status}`, "data-cdr": cdr.id,
    "data-transaction": cdr.transaction_id ?? "" },
    h("h2", {},
      session ? h("a", { href: `#/stations/${encodeURIComponent(session.station_id)}` }, session.station_id) : "–",
      ` · ${t("review.session")} ${cdr.transaction_id ?? "–"} · `,
      h("span", { class: "status" }, t(`review.status.${review.status}`))),
    h("p", {}, `${dateTime(cdr.cdr.start_date_time)} – ${dateTime(cdr.cdr.end_date_time)} · `,
      kwh(Number(cdr.cdr.total_energy) * 1000), " · ",
      h("strong", { class: "total" }, money(cdr.total_incl_vat, cdr.currency)),
      review.status === "held" ? ` (${t("review.notBilled")})` : ""),
    h("p", { class: "reasons-title" }, h("strong", {}, `${t("review.why")}:`)),
    session && session.flags.length ? flagRows(session.flags)
      : h("ul", { class: "flags" }, ...review.reasons.map((reason) => h("li", {}, reason))),
    review.note ? h("p", { class: "note" }, `${t("review.note")}: ${review.note}`) : null,
    review.status === "held" && can("money:write") ? decisionForms(cdr, done) : null,
  );
}

export function reviewPage(root: HTMLElement): () => void {
  const status = h("select", { id: "review-status", "aria-label": t("review.show") },
    ...STATUSES.map((s) => h("option", { value: s }, t(`review.status.${s}`))));
  const list = h("div", { id: "review-list" });
  root.append(h("h1", {}, t("nav.review")), h("p", { class: "hint" }, t("review.hint")),
    h("label", { class: "filters" }, h("span", {}, t("review.show")), status), list);
  const load = async () => {
    const cdrs = await api<Cdr[]>(`/cdrs?review=${status.value}&limit=200`);
    const sessions = await Promise.all(cdrs.map((cdr) => cdr.transaction_id === null ? null
      : api<Session>(`/transactions/${cdr.transaction_id}`).catch(() => null)));
    list.replaceChildren(...(cdrs.length === 0
      ? [h("p", { id: "review-none" }, t(status.value === "held" ? "review.none" : "common.empty"))]
      : cdrs.map((cdr, i) => article(cdr, sessions[i], () => void load()))));
  };
  status.addEventListener("change", () => void load());
  void load();
  return () => undefined;
}
