import { ApiError, api, apiKey } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { live } from "../live";

export function loginPage(root: HTMLElement): void {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "login", onsubmit: async (e: Event) => {
    e.preventDefault();
    apiKey.set(input.value.trim());
    try {
      await api("/status");
      location.hash = "#/";
      void live.start();
    } catch (error) {
      apiKey.clear();
      message.textContent = error instanceof ApiError && error.status === 401 ? t("login.wrong") : t("common.error");
    }
  } },
    h("h1", {}, t("login.title")),
    h("label", { for: "api-key" }, t("login.key")),
    input,
    h("button", { type: "submit", id: "login" }, t("login.submit")),
    message,
    h("p", { class: "hint" }, t("login.hint")),
  );
  root.append(form);
  input.focus();
}
