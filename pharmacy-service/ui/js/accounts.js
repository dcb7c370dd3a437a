// Accounts: "My account" for everyone (change one's own password; an agent's own KPIs and
// personal templates) and, for admins on the agents page, every login with password reset,
// deactivation and reactivation, and the API tokens with their revocation.
import { h, clear, toast } from "./dom.js";
import { get, post, del, rows, session, qs } from "./api.js";
import { t, fmtDateTime, fmtNum, fmtDuration } from "./i18n.js";

const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

function field(id, label, input) {
  input.id = id;
  return h("p", { class: "field" }, h("label", { for: id }, label), input);
}

/** The "My account" page. */
export async function show(_name, el) {
  clear(el).append(h("h1", {}, t("account.title")), h("p", { class: "muted" }, `${session.user?.name || ""} · ${session.user?.username || ""}`));
  el.append(passwordForm());
  if (session.agentId) {
    el.append(await myFigures(), await myTemplates(el));
  }
}

function passwordForm() {
  const cur = h("input", { type: "password", required: true, autocomplete: "current-password" });
  const next = h("input", { type: "password", required: true, autocomplete: "new-password", minlength: "8" });
  const again = h("input", { type: "password", required: true, autocomplete: "new-password", minlength: "8" });
  const form = h("form", { class: "card", id: "my-password", onsubmit: async (e) => {
    e.preventDefault();
    if (next.value.length < 8) return toast(t("pw.short"), true);
    if (next.value !== again.value) return toast(t("pw.mismatch"), true);
    try {
      await post("/auth/password", { current_password: cur.value, new_password: next.value });
      form.reset();
      toast(t("account.passwordChanged"));
    } catch (er) {
      toast(er.status === 401 || er.status === 403 ? t("pw.wrong") : er.message, true);
    }
  } },
  h("h2", {}, t("pw.submit")),
  field("my-pw-current", t("pw.current"), cur), field("my-pw-new", t("pw.new"), next), field("my-pw-repeat", t("pw.repeat"), again),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("pw.submit"))));
  return form;
}

/** The agent's own figures over the last 7 days. */
async function myFigures() {
  const to = new Date();
  const from = new Date(to.getTime() - 6 * 86400000);
  const box = h("section", { class: "card", id: "my-kpi", "aria-labelledby": "my-kpi-h" }, h("h2", { id: "my-kpi-h" }, t("account.myFigures")));
  try {
    const r = await get(`/api/agents/${session.agentId}/kpi/${qs({ from: iso(from), to: iso(to) })}`);
    const k = r.kpi;
    const avg = (ms, n) => (n ? ms / n : null);
    const cards = k
      ? [
        [t("kpi.handled"), fmtNum(k.totals.tickets_handled)],
        [t("kpi.sent"), fmtNum(k.totals.messages_sent)],
        [t("kpi.frt"), fmtDuration(avg(k.totals.first_response_ms, k.totals.first_response_count))],
        [t("kpi.reply"), fmtDuration(avg(k.totals.reply_ms, k.totals.reply_count))],
        [t("kpi.csat"), k.csat_avg != null ? `${fmtNum(k.csat_avg, 2)} / 5` : "—"],
      ]
      : [];
    box.append(h("p", { class: "muted small" }, t("account.period", { from: r.from, to: r.to })),
      cards.length ? h("div", { class: "cards" }, cards.map(([l, v]) => h("div", { class: "card kpi" }, h("div", { class: "label" }, l), h("div", { class: "value", dir: "ltr" }, v))))
        : h("p", { class: "muted" }, t("account.noActivity")));
  } catch (e) {
    box.append(h("p", { class: "muted" }, e.message));
  }
  return box;
}

/** The agent's personal templates (they see the global ones too, in the composer). */
async function myTemplates(page) {
  const box = h("section", { class: "card", id: "my-templates", "aria-labelledby": "my-tpl-h" }, h("h2", { id: "my-tpl-h" }, t("account.myTemplates")),
    h("p", { class: "muted small" }, t("account.templatesHint")));
  const mine = rows(await get("/api/templates/").catch(() => null)).filter((x) => x.owner_agent_id === session.agentId);
  box.append(h("ul", { class: "plain" }, mine.length ? mine.map((x) => h("li", { "data-template": x.key },
    h("strong", { dir: "auto" }, x.title), " ", h("span", { class: "muted small", dir: "ltr" }, `/${x.key}`), h("div", { dir: "auto" }, x.body),
    h("button", { type: "button", class: "btn danger", "aria-label": t("templates.deleteOf", { key: x.key }), onclick: async () => {
      if (!confirm(t("templates.deleteConfirm", { key: x.key }))) return;
      try { await del(`/api/templates/${x.id}/`); toast(t("deleted")); show("account", page); } catch (e) { toast(e.message, true); }
    } }, t("delete")))) : h("li", { class: "muted" }, "—")));
  const key = h("input", { required: true, dir: "ltr", pattern: "[a-z0-9_-]+", maxlength: "64" });
  const title = h("input", { required: true, dir: "auto" });
  const body = h("textarea", { rows: "3", required: true, dir: "auto" });
  box.append(h("form", { onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post("/api/templates/", { key: key.value.trim(), title: title.value.trim(), body: body.value, personal: true });
      toast(t("saved"));
      show("account", page);
    } catch (er) { toast(er.message, true); }
  } },
  h("h3", {}, t("templates.new")),
  field("my-tpl-key", t("templates.key"), key), field("my-tpl-title", t("templates.titleCol"), title), field("my-tpl-body", t("templates.body"), body),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("add")))));
  return box;
}

// ---------- admins: logins and API tokens ----------

/** Every login with reset, deactivate and reactivate, and the API tokens (agents page). */
export async function usersSection(box = h("section", { class: "card", id: "users-admin", "aria-labelledby": "users-h" })) {
  const [users, tokens] = await Promise.all([get("/api/users/").then(rows), get("/api/tokens/").then(rows).catch(() => [])]);
  const redraw = () => usersSection(box).catch((e) => toast(e.message, true));
  const byId = new Map(users.map((u) => [u.id, u]));
  clear(box).append(h("h2", { id: "users-h" }, t("users.title")),
    h("table", { class: "data" },
      h("thead", {}, h("tr", {}, [t("agents.name"), t("login.username"), t("agents.role"), t("users.state"), t("actions")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, users.map((u) => {
        const pw = h("input", { type: "password", minlength: "8", autocomplete: "new-password", placeholder: t("users.newPassword"), "aria-label": t("users.newPasswordOf", { name: u.name }) });
        const self = u.id === session.user?.id;
        return h("tr", { "data-user": u.id, class: u.is_active ? null : "muted" },
          h("td", { dir: "auto" }, u.name), h("td", { dir: "ltr" }, u.username), h("td", {}, t(`role.${u.role}`)),
          h("td", {}, u.is_active ? t("users.active") : t("users.inactive"), u.must_change_password ? h("span", { class: "muted small" }, ` · ${t("users.mustChange")}`) : null),
          h("td", {},
            h("form", { class: "inline-form", onsubmit: async (e) => {
              e.preventDefault();
              if (pw.value.length < 8) return toast(t("pw.short"), true);
              if (!confirm(t("users.resetConfirm", { name: u.name }))) return;
              try { await post(`/api/users/${u.id}/password/`, { new_password: pw.value }); pw.value = ""; toast(t("users.resetDone")); redraw(); } catch (er) { toast(er.message, true); }
            } }, pw, h("button", { type: "submit", class: "btn" }, t("users.reset"))),
            self ? null : h("button", { type: "button", class: u.is_active ? "btn danger" : "btn", "data-active": String(u.is_active), onclick: async () => {
              if (u.is_active && !confirm(t("users.deactivateConfirm", { name: u.name }))) return;
              try { await post(`/api/users/${u.id}/active/`, { active: !u.is_active }); toast(t("saved")); redraw(); } catch (er) { toast(er.message, true); }
            } }, u.is_active ? t("users.deactivate") : t("users.reactivate"))));
      }))),
    h("h3", {}, t("tokens.title")),
    h("p", { class: "muted small" }, t("tokens.hint")),
    tokens.length ? h("table", { class: "data" },
      h("thead", {}, h("tr", {}, [t("tokens.name"), t("tokens.user"), t("tokens.created"), t("tokens.lastUsed"), t("actions")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, tokens.map((k) => h("tr", { "data-token": k.id, class: k.revoked_at ? "muted" : null },
        h("td", { dir: "auto" }, k.name), h("td", { dir: "auto" }, byId.get(k.user_id)?.name || `#${k.user_id}`),
        h("td", {}, fmtDateTime(k.created_at)), h("td", {}, k.last_used_at ? fmtDateTime(k.last_used_at) : "—"),
        h("td", {}, k.revoked_at ? t("tokens.revoked") : h("button", { type: "button", class: "btn danger", onclick: async () => {
          if (!confirm(t("tokens.revokeConfirm", { name: k.name }))) return;
          try { await del(`/api/tokens/${k.id}/`); toast(t("tokens.revoked")); redraw(); } catch (er) { toast(er.message, true); }
        } }, t("tokens.revoke")))))))
      : h("p", { class: "muted" }, "—"));
  return box;
}
