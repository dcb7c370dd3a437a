// Admin pages: agents and branches, templates and auto-replies, settings, the activity log.
import { h, clear, toast } from "./dom.js";
import { get, post, patch, put, del, rows, qs, nextCursor } from "./api.js";
import { t, fmtDateTime, fmtNum, currentLang } from "./i18n.js";
import { webhooksSection } from "./webhooks.js";
import { emailSection } from "./email.js";
import { labelsSection } from "./labels.js";
import { usersSection } from "./accounts.js";

const bName = (b) => (b ? (currentLang() === "ar" ? b.name_ar : b.name) || b.name : t("branch.none"));

function table(headers, body) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, body));
}

function field(id, label, input) {
  input.id = id;
  return h("div", {}, h("label", { for: id }, label), input);
}

// ---------- agents and branches ----------

async function agents(el) {
  const [ag, br] = await Promise.all([get("/api/agents/"), get("/api/branches/")]);
  const branches = rows(br);
  const branchSelect = (value) => h("select", {}, h("option", { value: "" }, t("branch.none")),
    branches.map((b) => h("option", { value: b.id, selected: b.id === value }, bName(b))));
  clear(el).append(h("h1", {}, t("nav.agents")));
  el.append(h("h2", {}, t("agents.title")), table(
    [t("agent"), t("login.username"), t("branch"), t("agents.status"), t("agents.open"), t("agents.capacity"), t("agents.shifts"), t("actions")],
    rows(ag).map((a) => {
      const sel = branchSelect(a.branch_id);
      sel.setAttribute("aria-label", t("agents.branchOf", { name: a.name }));
      const cap = h("input", { type: "number", min: "1", max: "100", value: a.capacity ?? 10, "aria-label": t("agents.capacityOf", { name: a.name }), class: "narrow" });
      const shifts = shiftsEditor(a);
      return h("tr", {},
        h("td", { dir: "auto" }, a.name), h("td", { dir: "ltr" }, a.username || ""), h("td", {}, sel),
        h("td", {}, a.status ? t(`presence.${a.status}`) : "—"), h("td", {}, fmtNum(a.open_tickets)), h("td", {}, cap), h("td", {}, shifts),
        h("td", {}, h("button", { type: "button", class: "btn", onclick: async () => {
          try {
            await patch(`/api/agents/${a.id}/`, { branch_id: sel.value ? Number(sel.value) : null, capacity: Number(cap.value), shifts: shifts.read() });
            toast(t("saved"));
          } catch (e) { toast(e.message, true); }
        } }, t("save"))));
    })));
  const form = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    try {
      await post("/auth/register", { username: v("na-user"), name: v("na-name"), password: v("na-pass"), role: v("na-role"),
        branch_id: v("na-branch") ? Number(v("na-branch")) : null, capacity: Number(v("na-cap")) || null });
      toast(t("saved"));
      agents(el);
    } catch (er) { toast(er.message, true); }
  } },
  h("h2", {}, t("agents.new")),
  h("div", { class: "cards" },
    field("na-name", t("agents.name"), h("input", { required: true, dir: "auto" })),
    field("na-user", t("login.username"), h("input", { required: true, dir: "ltr", autocomplete: "off" })),
    field("na-pass", t("login.password"), h("input", { type: "password", required: true, autocomplete: "new-password", minlength: "8" })),
    field("na-role", t("agents.role"), h("select", {}, h("option", { value: "agent" }, t("role.agent")), h("option", { value: "admin" }, t("role.admin")))),
    field("na-branch", t("branch"), branchSelect(null)),
    field("na-cap", t("agents.capacity"), h("input", { type: "number", min: "1", value: "10" }))),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("add"))));
  el.append(form);
  el.append(await usersSection().catch((e) => h("p", { class: "muted" }, e.message)));
  const holidays = await Promise.all(branches.map((b) => get(`/api/branches/${b.id}/holidays/`).then(rows).catch(() => [])));
  el.append(h("h2", {}, t("branches.title")), table([t("branch"), t("branches.address"), t("branches.phone"), t("branches.hours"), t("holidays.title"), t("actions")],
    branches.map((b, i) => {
      const hours = hoursEditor(b.hours, `${t("branches.hours")} ${bName(b)}`, t("hours.none"));
      const days = holidaysEditor(holidays[i], `${t("holidays.title")} ${bName(b)}`, `hol-${b.id}`);
      const phone = h("input", { value: b.phone || "", dir: "ltr", type: "tel", "aria-label": `${t("branches.phone")} ${bName(b)}` });
      return h("tr", { "data-branch": b.id }, h("td", { dir: "auto" }, bName(b)), h("td", { dir: "auto" }, b.address || ""), h("td", {}, phone), h("td", {}, hours),
        h("td", {}, days),
        h("td", {}, h("button", { type: "button", class: "btn", "data-save-branch": b.id, onclick: async () => {
          try {
            const week = hours.read();
            await put(`/api/branches/${b.id}/hours/`, { hours: week });
            await post("/api/branches/", { code: b.code, name: b.name, name_ar: b.name_ar, address: b.address, phone: phone.value.trim() || null,
              latitude: b.latitude, longitude: b.longitude, hours: week });
            await put(`/api/branches/${b.id}/holidays/`, { items: days.read() });
            toast(t("saved"));
          } catch (e) { toast(e.message, true); }
        } }, t("save"))));
    })));
  // Holidays of every branch (national holidays).
  const chain = holidaysEditor(rows(await get("/api/holidays/").catch(() => [])), t("holidays.chain"), "hol-all");
  chain.open = true;
  el.append(h("section", { class: "card", "aria-labelledby": "hol-all-h" }, h("h2", { id: "hol-all-h" }, t("holidays.chain")),
    h("p", { class: "muted small" }, t("holidays.hint")), chain,
    h("p", {}, h("button", { type: "button", class: "btn primary", id: "hol-all-save", onclick: async () => {
      try { await put("/api/holidays/", { items: chain.read() }); toast(t("saved")); } catch (e) { toast(e.message, true); }
    } }, t("save")))));
}

/** A branch's (or the chain's) holidays: its own are edited (date + name, add, remove); the
 * chain-wide ones are listed for reference. `.read()` gives the own ones for the API. */
function holidaysEditor(list, label, idBase) {
  const own = list.filter((x) => !x.chain_wide).map((x) => ({ day: x.day, name: x.name }));
  const shared = idBase === "hol-all" ? [] : list.filter((x) => x.chain_wide);
  const ul = h("ul", { class: "holidays", "aria-label": label });
  const summary = h("summary", {});
  const draw = () => {
    clear(ul);
    own.sort((a, b) => a.day.localeCompare(b.day));
    for (const x of own) {
      ul.append(h("li", { "data-day": x.day }, h("time", { datetime: x.day, dir: "ltr" }, x.day), " ", h("span", { dir: "auto" }, x.name), " ",
        h("button", { type: "button", class: "btn ghost", "aria-label": t("holidays.remove", { day: x.day }), onclick: () => { own.splice(own.indexOf(x), 1); draw(); } }, "✕")));
    }
    for (const x of shared) ul.append(h("li", { class: "muted" }, h("time", { datetime: x.day, dir: "ltr" }, x.day), " ", h("span", { dir: "auto" }, x.name), " ", h("span", { class: "small" }, `(${t("holidays.allBranches")})`)));
    summary.textContent = own.length + shared.length ? t("holidays.count", { n: own.length + shared.length }) : t("holidays.none");
  };
  const day = h("input", { type: "date", id: `${idBase}-day`, dir: "ltr" });
  const name = h("input", { id: `${idBase}-name`, dir: "auto", maxlength: "100" });
  const add = h("button", { type: "button", class: "btn", id: `${idBase}-add`, onclick: () => {
    if (!day.value || !name.value.trim()) { toast(t("holidays.missing"), true); return; }
    const same = own.find((x) => x.day === day.value);
    if (same) same.name = name.value.trim();
    else own.push({ day: day.value, name: name.value.trim() });
    day.value = ""; name.value = "";
    draw();
  } }, t("add"));
  const box = h("details", { class: "shifts holidays-editor" }, summary, ul,
    h("div", { class: "holiday-add" },
      h("label", { for: day.id }, t("holidays.day")), day,
      h("label", { for: name.id }, t("holidays.name")), name, add));
  box.read = () => own.map((x) => ({ day: x.day, name: x.name }));
  draw();
  return box;
}

// Weekly hours are seven lists of {start, end} minutes, Monday first; end < start runs past
// midnight. They are edited as text: "09:00-17:00, 18:00-02:00", empty for a day off.
const hhmm = (m) => `${String(Math.floor(m / 60) % 24).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

function fmtSpans(spans) {
  if (!spans || !spans.length) return "";
  return spans.map((s) => (s.start === 0 && s.end === 1440 ? "00:00-24:00" : `${hhmm(s.start)}-${s.end === 1440 ? "24:00" : hhmm(s.end)}`)).join(", ");
}

function parseSpans(text) {
  const out = [];
  for (const part of text.split(/[,،]/).map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$/.exec(part);
    if (!m) throw new Error(t("hours.bad", { text: part }));
    const start = Number(m[1]) * 60 + Number(m[2]);
    const end = Number(m[3]) * 60 + Number(m[4]);
    if (start >= 1440 || end > 1440 || start === end) throw new Error(t("hours.bad", { text: part }));
    out.push({ start, end });
  }
  return out;
}

const dayNames = () => (currentLang() === "ar"
  ? ["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"]
  : ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);

function hoursText(hours) {
  const days = hours?.days;
  if (!Array.isArray(days) || days.length !== 7) return "—";
  const texts = days.map(fmtSpans);
  if (texts.every((x) => x === "")) return t("hours.none");
  if (texts.every((x) => x === texts[0])) return t("hours.everyDay", { spans: texts[0] });
  return texts.map((x, i) => `${dayNames()[i]} ${x || t("hours.off")}`).join(" · ");
}

function shiftsEditor(a) {
  return hoursEditor(a.shifts, `${t("agents.shifts")} ${a.name}`, t("agents.noRoster"));
}

/** Seven text fields in a <details>; `.read()` parses them (throws on a bad span). */
function hoursEditor(hours, label, emptyText) {
  const days = hours?.days || [[], [], [], [], [], [], []];
  const inputs = days.map((spans, i) => h("input", { value: fmtSpans(spans), dir: "ltr", placeholder: t("hours.off"), "aria-label": `${label} ${dayNames()[i]}` }));
  const box = h("details", { class: "shifts" }, h("summary", {}, hoursText(hours) === t("hours.none") ? emptyText : hoursText(hours)),
    h("div", { class: "shift-days" }, inputs.map((inp, i) => h("label", {}, h("span", {}, dayNames()[i]), inp))));
  box.read = () => ({ days: inputs.map((inp) => parseSpans(inp.value)) });
  return box;
}

// ---------- templates and auto-replies ----------

async function templates(el) {
  const list = rows(await get("/api/templates/"));
  clear(el).append(h("h1", {}, t("nav.templates")), h("p", { class: "muted" }, t("templates.hint")));
  el.append(table([t("templates.key"), t("templates.titleCol"), t("templates.body"), t("actions")], list.map((x) => {
    const body = h("textarea", { rows: "3", dir: "auto", "aria-label": t("templates.bodyOf", { key: x.key }) });
    body.value = x.body || "";
    return h("tr", { "data-template": x.id }, h("td", { dir: "ltr" }, `/${x.key}`), h("td", { dir: "auto" }, x.title || ""), h("td", {}, body),
      h("td", {}, h("button", { type: "button", class: "btn", onclick: async () => {
        try { await post("/api/templates/", { key: x.key, title: x.title || x.key, body: body.value }); toast(t("saved")); } catch (e) { toast(e.message, true); }
      } }, t("save")), " ",
      // System templates (greeting, out-of-office, survey) are edited, never removed.
      x.is_system ? null : h("button", { type: "button", class: "btn danger", "aria-label": t("templates.deleteOf", { key: x.key }), onclick: async () => {
        if (!confirm(t("templates.deleteConfirm", { key: x.key }))) return;
        try { await del(`/api/templates/${x.id}/`); toast(t("deleted")); templates(el); } catch (e) { toast(e.message, true); }
      } }, t("delete"))));
  })));
  const form = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value;
    try { await post("/api/templates/", { key: v("nt-key").trim(), title: v("nt-title").trim(), body: v("nt-body") }); toast(t("saved")); templates(el); } catch (er) { toast(er.message, true); }
  } }, h("h2", {}, t("templates.new")),
  field("nt-key", t("templates.key"), h("input", { required: true, dir: "ltr", pattern: "[a-z0-9_-]+" })),
  field("nt-title", t("templates.titleCol"), h("input", { required: true, dir: "auto" })),
  field("nt-body", t("templates.body"), h("textarea", { rows: "3", required: true, dir: "auto" })),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("add"))));
  el.append(form);
  const ar = await get("/api/auto-replies/").catch(() => null);
  if (ar) {
    el.append(h("h2", {}, t("autoreplies.title")), table([t("autoreplies.trigger"), t("autoreplies.reply"), t("autoreplies.active"), t("actions")],
      rows(ar).map((x) => h("tr", { "data-trigger": x.id }, h("td", { dir: "auto" }, x.keyword), h("td", { dir: "auto" }, x.body),
        h("td", {}, x.is_active ? t("yes") : t("no")),
        h("td", {}, h("button", { type: "button", class: "btn danger", "aria-label": t("autoreplies.deleteOf", { key: x.keyword }), onclick: async () => {
          if (!confirm(t("autoreplies.deleteConfirm", { key: x.keyword }))) return;
          try { await del(`/api/auto-replies/${x.id}/`); toast(t("deleted")); templates(el); } catch (e) { toast(e.message, true); }
        } }, t("delete")))))));
    const form2 = h("form", { class: "card", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await post("/api/auto-replies/", { keyword: form2.querySelector("#ar-key").value.trim(), body: form2.querySelector("#ar-body").value, match_kind: "contains" });
        toast(t("saved"));
        templates(el);
      } catch (er) { toast(er.message, true); }
    } }, h("h2", {}, t("autoreplies.new")),
    field("ar-key", t("autoreplies.trigger"), h("input", { required: true, dir: "auto" })),
    field("ar-body", t("autoreplies.reply"), h("textarea", { rows: "2", required: true, dir: "auto" })),
    h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("add"))));
    el.append(form2);
  }
  el.append(await labelsSection());
}

// ---------- settings ----------

// Durations travel as seconds (`*_secs`) and are edited in minutes.
const SECS = /_secs?$/;
// Startup configuration, shown but not editable here (PATCH refuses it).
const STARTUP_ONLY = new Set(["time_zone"]);

async function settings(el) {
  const values = await get("/api/settings/");
  clear(el).append(h("h1", {}, t("nav.settings")), h("p", { class: "muted" }, t("settings.hint")));
  const form = h("form", { class: "card settings-form", onsubmit: async (e) => {
    e.preventDefault();
    const out = {};
    for (const i of form.querySelectorAll("[data-key]")) {
      const k = i.dataset.key;
      const v = i.type === "checkbox" ? i.checked : SECS.test(k) ? Math.round(Number(i.value) * 60) : i.value.trim();
      if (v !== values[k]) out[k] = v;
    }
    if (!Object.keys(out).length) return;
    try { await patch("/api/settings/", out); toast(t("saved")); settings(el); } catch (er) { toast(er.message, true); }
  } });
  for (const [k, v] of Object.entries(values)) {
    if (v !== null && typeof v === "object") continue;
    const id = `set-${k}`;
    let input;
    if (STARTUP_ONLY.has(k)) {
      form.append(h("div", { class: "setting" }, h("label", { for: id }, label(k)),
        h("input", { id, value: v ?? "", readonly: true, dir: "ltr", "aria-describedby": `${id}-u` }),
        h("span", { id: `${id}-u`, class: "muted small" }, ` ${t("settings.startup_only")}`)));
      continue;
    }
    if (typeof v === "boolean") input = h("input", { type: "checkbox", id, "data-key": k, checked: v });
    else if (SECS.test(k)) input = h("input", { type: "number", id, "data-key": k, min: "0", step: "1", value: Math.round(v / 60), class: "narrow-wide", "aria-describedby": `${id}-u` });
    // The WhatsApp name may be Arabic: its direction follows its text; WhatsApp takes 25 characters.
    else if (k === "whatsapp_name") input = h("input", { id, "data-key": k, value: v ?? "", dir: "auto", maxlength: "25", required: true, "aria-describedby": `${id}-u` });
    else input = h("input", { id, "data-key": k, value: v ?? "", dir: "ltr" });
    const note = SECS.test(k) ? ` ${t("settings.minutes")} (${dur(v)})` : k === "whatsapp_name" ? t("settings.whatsappNameHint") : null;
    form.append(h("div", { class: typeof v === "boolean" ? "setting check" : "setting" },
      h("label", { for: id }, label(k)), input,
      note ? h("span", { id: `${id}-u`, class: "muted small" }, note) : null));
  }
  form.append(h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("save"))));
  el.append(form);
  if (values.calls) el.append(callSettings(values.calls));
  // Pacing is start-up configuration: shown here, changed in the configuration file.
  const p = await get("/api/settings/pacing/").catch(() => null);
  if (p) {
    const ms = (v) => (v >= 60000 && v % 60000 === 0 ? t("dur.m", { n: v / 60000 }) : v >= 1000 ? `${fmtNum(v / 1000)} s` : `${fmtNum(v)} ms`);
    const rowsOut = [
      ["pacing.gap", `${ms(p.min_gap_ms)} + ≤ ${ms(p.gap_jitter_ms)}`],
      ["pacing.typing", `${ms(p.typing_min_ms)} – ${ms(p.typing_max_ms)} (${fmtNum(p.typing_per_char_ms)} ms / ${t("pacing.char")})`],
      ["pacing.readPause", ms(p.read_pause_ms)],
      ["pacing.customerCap", t("pacing.capValue", { n: p.customer_cap, window: ms(p.customer_window_ms) })],
      ["pacing.massSend", t("pacing.massValue", { n: p.mass_send_threshold, window: ms(p.mass_window_ms) })],
      ["pacing.attempts", fmtNum(p.max_attempts)],
    ];
    el.append(h("section", { class: "card", id: "pacing", "aria-labelledby": "pacing-h" }, h("h2", { id: "pacing-h" }, t("pacing.title")),
      h("p", { class: "muted small" }, t("pacing.hint")),
      h("dl", { class: "formula-list" }, rowsOut.map(([k, v]) => [h("dt", {}, t(k)), h("dd", { dir: "ltr" }, v)]))));
  }
  el.append(await emailSection(), await webhooksSection());
}

// Calls: WhatsApp Web cannot answer them; what the service does instead (both off by default).
function callSettings(s) {
  const reply = h("input", { type: "checkbox", id: "call-auto-reply", checked: s.auto_reply });
  const text = h("textarea", { id: "call-reply-text", rows: "4", maxlength: "2000", dir: "auto", required: true }, s.auto_reply_text);
  const windowMin = h("input", { type: "number", id: "call-reply-window", min: "1", step: "1", required: true,
    value: Math.round(s.auto_reply_window_secs / 60), class: "narrow-wide", "aria-describedby": "call-reply-window-u" });
  const reject = h("input", { type: "checkbox", id: "call-auto-reject", checked: s.auto_reject });
  const form = h("form", { class: "card settings-form", id: "call-settings", "aria-labelledby": "calls-h", onsubmit: async (e) => {
    e.preventDefault();
    const now = { auto_reply: reply.checked, auto_reply_text: text.value.trim(),
      auto_reply_window_secs: Math.round(Number(windowMin.value) * 60), auto_reject: reject.checked };
    const out = Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== s[k]));
    if (!Object.keys(out).length) return;
    try {
      const saved = await patch("/api/settings/", { calls: out });
      toast(t("saved"));
      form.replaceWith(callSettings(saved.calls));
    } catch (er) { toast(er.message, true); }
  } },
  h("h2", { id: "calls-h" }, t("calls.title")),
  h("p", { class: "muted small" }, t("calls.hint")),
  h("div", { class: "setting check" }, h("label", { for: "call-auto-reject" }, t("calls.autoReject")), reject),
  h("div", { class: "setting check" }, h("label", { for: "call-auto-reply" }, t("calls.autoReply")), reply),
  h("div", { class: "setting" }, h("label", { for: "call-reply-text" }, t("calls.replyText")), text,
    h("p", { class: "muted small" }, t("calls.replyVars"))),
  h("div", { class: "setting" }, h("label", { for: "call-reply-window" }, t("calls.replyWindow")), windowMin,
    h("span", { id: "call-reply-window-u", class: "muted small" }, ` ${t("settings.minutes")} (${dur(s.auto_reply_window_secs)})`)),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("save"))));
  return form;
}

function label(k) {
  const s = t(`setting.${k}`);
  return s === `setting.${k}` ? k : s;
}

function dur(s) {
  if (s % 86400 === 0) return t("settings.days", { n: s / 86400 });
  if (s % 3600 === 0) return t("dur.h", { n: s / 3600 });
  return t("dur.m", { n: Math.round(s / 60) });
}

// ---------- activity log ----------

async function activity(el, filters = {}, older = []) {
  // The server filters (user, action prefix, local days); pages follow its cursor.
  const q = { limit: 200, cursor: filters.cursor, user: filters.user || undefined, action: filters.action || undefined, from: filters.from || undefined, to: filters.to || undefined };
  const [data, users] = await Promise.all([get(`/api/activity/${qs(q)}`), get("/api/users/").catch(() => null)]);
  const names = new Map(rows(users).map((u) => [u.id, u.name || u.username]));
  clear(el).append(h("h1", {}, t("nav.activity")));
  const action = h("input", { id: "act-action", value: filters.action || "", dir: "ltr", placeholder: "ticket." });
  const user = h("select", { id: "act-user" }, h("option", { value: "" }, t("activity.anyone")),
    [...names.entries()].map(([id, n]) => h("option", { value: id, selected: String(id) === String(filters.user || "") }, n)));
  const from = h("input", { id: "act-from", type: "date", value: filters.from || "" });
  const to = h("input", { id: "act-to", type: "date", value: filters.to || "" });
  el.append(h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); activity(el, { action: action.value.trim(), user: user.value, from: from.value, to: to.value }).catch((er) => toast(er.message, true)); } },
    h("div", {}, h("label", { for: "act-action" }, t("activity.action")), action),
    h("div", {}, h("label", { for: "act-user" }, t("activity.user")), user),
    h("div", {}, h("label", { for: "act-from" }, t("activity.from")), from),
    h("div", {}, h("label", { for: "act-to" }, t("activity.to")), to),
    h("button", { type: "submit", class: "btn" }, t("activity.filter"))));
  const list = [...older, ...rows(data)];
  el.append(table([t("activity.when"), t("activity.user"), t("activity.action"), t("activity.entity"), t("activity.details")],
    list.map((a) => h("tr", {}, h("td", {}, fmtDateTime(a.at)), h("td", { dir: "auto" }, names.get(a.user_id) || (a.user_id ?? "—")),
      h("td", { dir: "ltr" }, a.action), h("td", { dir: "ltr" }, a.entity_kind ? `${a.entity_kind} #${a.entity_id}` : "—"),
      h("td", { dir: "ltr", class: "small" }, a.details_json || "")))));
  // Older entries under the same filters: the next page is appended.
  const next = nextCursor(data);
  if (next) {
    el.append(h("p", {}, h("button", { type: "button", class: "btn", id: "act-older", onclick: () =>
      activity(el, { ...filters, cursor: next }, list).catch((e) => toast(e.message, true)) }, t("activity.older"))));
  }
}

/** Draws one of the admin pages. */
export async function show(name, el) {
  const pages = { agents, templates, settings, activity };
  try {
    await pages[name](el);
  } catch (e) {
    clear(el).append(h("h1", {}, t(`nav.${name}`)), h("p", { class: "error" }, e.message));
  }
}
