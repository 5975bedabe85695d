// The tenant's people and API keys (issue 15, item 2), for those holding access:manage: an
// operator administrator sees their tenant's, a platform administrator every tenant's (and
// names the tenant when granting). Add a person with a role and a first password, change a
// role, disable or enable; create a key (its secret shown this once, with a copy button),
// revoke one. The roles offered are those the API lists, less any holding more than the
// administrator does: the API refuses those anyway (services/access.py).

import { ApiError, api } from "../api";
import { h, table } from "../dom";
import { dateTime, t } from "../i18n";
import { type Permission, can, session } from "../permissions";

interface Account {
  id: number; email: string; name: string; role: string; tenant_id: number | null; totp: boolean;
  created_at: string; disabled_at: string | null; last_login_at: string | null;
}
interface Key {
  id: number; name: string; role: string; tenant_id: number | null; prefix: string; created_by: string;
  created_at: string; expires_at: string | null; revoked_at: string | null; last_used_at: string | null;
}
interface RoleInfo { role: string; description: string; permissions: Permission[] }
interface Tenant { id: number; code: string; name: string }

/** The API's reason for a refusal, else a generic error. */
export function reason(error: unknown): string {
  if (error instanceof ApiError && typeof error.detail === "string") return error.detail;
  if (error instanceof ApiError && error.status === 422) return t("people.invalid");
  return t("common.error");
}

/** "account:3:dana@example.org" → "dana@example.org". */
function who(label: string): string {
  const parts = label.split(":");
  return parts.length >= 3 ? parts.slice(2).join(":") : parts.slice(1).join(":") || label;
}

function when(iso: string | null): string {
  return iso ? dateTime(iso) : "–";
}

export function peoplePage(root: HTMLElement): void {
  const crossTenant = can("tenants:manage");
  const mine = new Set(session.me?.permissions ?? []);
  let roles: RoleInfo[] = [];
  let tenants: Tenant[] = [];
  const tenantName = (id: number | null) => id === null ? t("people.allTenants")
    : tenants.find((x) => x.id === id)?.name ?? String(id);

  // new grants start at the least a role can do: an administrator chooses more on purpose
  const roleSelect = (id: string, chosen = "viewer") => h("select", { id, name: "role", required: true },
    ...roles.filter((r) => r.permissions.every((p) => mine.has(p))).map((r) =>
      h("option", { value: r.role, selected: r.role === chosen, title: r.description }, t(`role.${r.role}`))));
  const tenantSelect = (id: string) => crossTenant
    ? h("label", {}, t("people.tenant"), h("select", { id, name: "tenant" },
      h("option", { value: "" }, t("people.noTenant")),
      ...tenants.map((x) => h("option", { value: x.code }, `${x.name} (${x.code})`))))
    : null;

  const peopleBody = h("div", { id: "people" });
  const keysBody = h("div", { id: "keys" });
  const newKey = h("div", { id: "new-key", class: "secret-once", hidden: true });

  // -- people ---------------------------------------------------------------------------------
  const drawPeople = async () => {
    const accounts = await api<Account[]>("/access/accounts");
    const message = h("p", { class: "error", role: "alert", id: "people-message" });
    const rows = accounts.map((a) => {
      const self = session.me?.kind === "account" && session.me.name === a.email;
      const change = async (body: object) => {
        message.textContent = "";
        try {
          await api(`/access/accounts/${a.id}`, { method: "PATCH", body: JSON.stringify(body) });
          await drawPeople();
        } catch (error) { message.textContent = reason(error); }
      };
      const roleCell = self ? t(`role.${a.role}`) : (() => {
        const select = roleSelect(`role-of-${a.id}`, a.role);
        if (![...select.options].some((o) => o.value === a.role)) return t(`role.${a.role}`);  // more than mine
        select.setAttribute("aria-label", t("people.changeRole", { name: a.name }));
        select.addEventListener("change", () => void change({ role: select.value }));
        return select;
      })();
      const row = [
        h("span", { class: "person-name" }, a.name), a.email, roleCell,
        h("span", { class: a.totp ? "totp on" : "totp off" }, a.totp ? t("people.totpOn") : t("people.totpOff")),
        when(a.last_login_at),
        ...(crossTenant ? [tenantName(a.tenant_id)] : []),
        a.disabled_at ? h("span", { class: "warning" }, t("people.disabledSince", { when: dateTime(a.disabled_at) }))
          : t("people.active"),
        self ? h("a", { href: "#/account" }, t("people.you")) : h("button", {
          type: "button", class: a.disabled_at ? "enable" : "disable",
          onclick: () => void change({ disabled: !a.disabled_at }),
        }, a.disabled_at ? t("people.enable") : t("people.disable")),
      ];
      return row;
    });
    const tableEl = table([t("people.name"), t("people.email"), t("people.role"), t("people.totp"), t("people.lastLogin"),
      ...(crossTenant ? [t("people.tenant")] : []), t("people.state"), ""], rows, { id: "people-table" });
    tableEl.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-email", accounts[i].email));
    peopleBody.replaceChildren(accounts.length ? tableEl : h("p", {}, t("people.none")), message);
  };

  const personForm = () => {
    const name = h("input", { id: "person-name", name: "name", required: true, maxlength: 200 });
    const email = h("input", { id: "person-email", name: "email", type: "email", required: true, maxlength: 254 });
    const password = h("input", { id: "person-password", name: "password", type: "password", required: true,
      minlength: 12, maxlength: 200, autocomplete: "new-password" });
    const role = roleSelect("person-role");
    const tenant = tenantSelect("person-tenant");
    const message = h("p", { role: "alert", id: "person-message" });
    return h("form", { class: "filters", id: "person-form", onsubmit: async (e: Event) => {
      e.preventDefault();
      message.textContent = ""; message.className = "";
      const code = (tenant?.querySelector("select") as HTMLSelectElement | null)?.value || null;
      try {
        const made = await api<Account>("/access/accounts", { method: "POST", body: JSON.stringify({
          name: name.value.trim(), email: email.value.trim(), password: password.value, role: role.value, tenant: code }) });
        (e.target as HTMLFormElement).reset();
        message.className = "ok";
        message.textContent = t("people.added", { name: made.name, role: t(`role.${made.role}`) });
        await drawPeople();
      } catch (error) { message.className = "error"; message.textContent = reason(error); }
    } },
    h("label", {}, t("people.name"), name),
    h("label", {}, t("people.email"), email),
    h("label", {}, t("people.firstPassword"), password),
    h("label", {}, t("people.role"), role),
    tenant,
    h("button", { type: "submit", id: "person-add" }, t("people.add")),
    h("p", { class: "hint" }, t("people.firstPasswordHint")),
    message);
  };

  // -- keys -----------------------------------------------------------------------------------
  const drawKeys = async () => {
    const keys = await api<Key[]>("/access/keys");
    const message = h("p", { class: "error", role: "alert", id: "keys-message" });
    const now = Date.now();
    const rows = keys.map((k) => {
      const expired = k.expires_at !== null && new Date(k.expires_at).getTime() <= now;
      const state = k.revoked_at ? h("span", { class: "warning" }, t("keys.revokedAt", { when: dateTime(k.revoked_at) }))
        : expired ? h("span", { class: "warning" }, t("keys.expired")) : t("keys.valid");
      return [
        h("span", { class: "key-name" }, k.name), h("code", {}, `${k.prefix}…`), t(`role.${k.role}`),
        ...(crossTenant ? [tenantName(k.tenant_id)] : []),
        who(k.created_by), when(k.expires_at), when(k.last_used_at), state,
        k.revoked_at ? "" : h("button", { type: "button", class: "revoke", onclick: async () => {
          if (!confirm(t("keys.revokeConfirm", { name: k.name }))) return;
          try {
            await api(`/access/keys/${k.id}`, { method: "DELETE" });
            await drawKeys();
          } catch (error) { message.textContent = reason(error); }
        } }, t("keys.revoke")),
      ];
    });
    const tableEl = table([t("keys.name"), t("keys.prefix"), t("people.role"), ...(crossTenant ? [t("people.tenant")] : []),
      t("keys.createdBy"), t("keys.expires"), t("keys.lastUsed"), t("people.state"), ""], rows, { id: "keys-table" });
    tableEl.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-key", keys[i].prefix));
    keysBody.replaceChildren(keys.length ? tableEl : h("p", {}, t("keys.none")), message);
  };

  const showSecret = (made: Key & { key: string }) => {
    const secret = h("input", { id: "new-key-secret", readonly: true, value: made.key, size: 52, spellcheck: "false" });
    const copied = h("span", { class: "hint", id: "new-key-copied", role: "status" });
    newKey.replaceChildren(
      h("h3", {}, t("keys.created", { name: made.name })),
      h("p", { class: "warning", id: "new-key-warning" }, t("keys.onceWarning")),
      h("div", { class: "secret-row" }, secret,
        h("button", { type: "button", id: "new-key-copy", onclick: async () => {
          secret.select();
          try { await navigator.clipboard.writeText(made.key); } catch { document.execCommand("copy"); }
          copied.textContent = t("keys.copied");
        } }, t("keys.copy")), copied),
      h("p", { class: "hint" }, t("keys.useHint")),
      h("button", { type: "button", id: "new-key-done", onclick: () => { newKey.replaceChildren(); newKey.hidden = true; } },
        t("keys.done")));
    newKey.hidden = false;
    secret.select();
  };

  const keyForm = () => {
    const name = h("input", { id: "key-name", name: "name", required: true, maxlength: 200 });
    const role = roleSelect("key-role");
    const expires = h("input", { id: "key-expires", name: "expires", type: "date" });
    const tenant = tenantSelect("key-tenant");
    const message = h("p", { class: "error", role: "alert", id: "key-message" });
    return h("form", { class: "filters", id: "key-form", onsubmit: async (e: Event) => {
      e.preventDefault();
      message.textContent = "";
      const code = (tenant?.querySelector("select") as HTMLSelectElement | null)?.value || null;
      // a date means "until the end of that day" where the administrator is
      const until = expires.value ? new Date(`${expires.value}T23:59:59`).toISOString() : null;
      try {
        const made = await api<Key & { key: string }>("/access/keys", { method: "POST", body: JSON.stringify({
          name: name.value.trim(), role: role.value, expires_at: until, tenant: code }) });
        (e.target as HTMLFormElement).reset();
        showSecret(made);
        await drawKeys();
      } catch (error) { message.textContent = reason(error); }
    } },
    h("label", {}, t("keys.name"), name),
    h("label", {}, t("people.role"), role),
    h("label", {}, t("keys.expiresOptional"), expires),
    tenant,
    h("button", { type: "submit", id: "key-create" }, t("keys.create")),
    message);
  };

  root.append(h("h1", {}, t("people.title")), h("p", { class: "hint" }, t("people.intro")));
  const failed = () => root.append(h("p", { class: "error" }, t("common.error")));
  void Promise.all([
    api<RoleInfo[]>("/access/roles").then((list) => { roles = list; }),
    crossTenant ? api<Tenant[]>("/tenants").then((list) => { tenants = list; }) : null,
  ]).then(() => {
    root.append(
      h("section", { id: "people-section" }, h("h2", {}, t("people.people")), peopleBody,
        h("h3", {}, t("people.addTitle")), personForm()),
      h("section", { id: "keys-section" }, h("h2", {}, t("keys.title")), h("p", { class: "hint" }, t("keys.intro")),
        newKey, keysBody, h("h3", {}, t("keys.createTitle")), keyForm()));
    return Promise.all([drawPeople(), drawKeys()]);
  }).catch(failed);
}
