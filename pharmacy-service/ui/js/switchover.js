// Admin: the switch-over page after importing the old system (GET /api/switchover). Map each
// imported legacy branch to a real one (suggested by name) or complete it in place; set the
// branches' addresses, locations and hours; see what is missing before going live; review the
// carried-over tickets (keep, reassign to a branch, close, or open them in the inbox).
import { h, clear, toast } from "./dom.js";
import { get, post, put, rows, qs, customerName } from "./api.js";
import { t, fmtDateTime, fmtNum, currentLang } from "./i18n.js";

const nameOf = (b) => (currentLang() === "ar" ? b.name_ar : b.name) || b.name;
const hm = (min) => `${String(Math.floor(min / 60) % 24).padStart(2, "0")}:${String(min % 60).padStart(2, "0")}`;
const minutes = (v) => { const [a, b] = v.split(":").map(Number); return a * 60 + b; };

function field(id, label, input) {
  input.id = id;
  return h("div", {}, h("label", { for: id }, label), input);
}

function legacyRow(el, l, branches) {
  const sel = h("select", { "aria-label": t("sw.mapTo", { name: l.branch.name }) },
    h("option", { value: "" }, t("sw.choose")),
    l.suggestions.length ? h("optgroup", { label: t("sw.suggested") },
      l.suggestions.map((s, i) => h("option", { value: s.branch_id ? `b:${s.branch_id}` : `d:${s.code}`, selected: i === 0 }, nameOf(s)))) : null,
    h("optgroup", { label: t("sw.allBranches") }, branches.map((b) => h("option", { value: `b:${b.branch.id}` }, nameOf(b.branch)))));
  const map = async () => {
    const [kind, v] = sel.value.split(":");
    if (!kind) { toast(t("sw.choose"), true); return; }
    try {
      await post(`/api/switchover/branches/${l.branch.id}/map/`, kind === "b" ? { branch_id: Number(v) } : { default_code: v });
      toast(t("saved"));
      show("switchover", el);
    } catch (e) { toast(e.message, true); }
  };
  return h("tr", {},
    h("td", { dir: "auto" }, l.branch.name), h("td", { dir: "ltr" }, l.branch.code),
    h("td", {}, fmtNum(l.agents)), h("td", {}, fmtNum(l.open_tickets)),
    h("td", {}, sel, " ", h("button", { type: "button", class: "btn", onclick: map }, t("sw.map"))));
}

/** The details form of a branch; `missing` is null for a legacy branch (no readiness badge). */
function branchForm(el, b, missing) {
  const id = (x) => `sw-${b.id}-${x}`;
  const span = b.hours?.days?.[0]?.[0];
  const form = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const v = (x) => form.querySelector(`#${id(x)}`).value.trim();
    const start = minutes(v("open"));
    const end = minutes(v("close")) || 1440;
    const body = {
      code: v("code") || undefined, name: v("name") || undefined, name_ar: v("name_ar") || undefined,
      address: v("address") || undefined,
      latitude: v("lat") === "" ? undefined : Number(v("lat")), longitude: v("lon") === "" ? undefined : Number(v("lon")),
      hours: { days: Array.from({ length: 7 }, () => [{ start, end }]) },
      active: form.querySelector(`#${id("active")}`).checked,
    };
    try {
      await put(`/api/switchover/branches/${b.id}/`, body);
      toast(t("saved"));
      show("switchover", el);
    } catch (er) { toast(er.message, true); }
  } },
  h("h3", { dir: "auto" }, nameOf(b), " ", missing === null ? null : missing.length
    ? h("span", { class: "state-badge", "data-state": "disconnected" }, t("sw.missing"), ": ", missing.map((m) => t(`sw.gap.${m}`)).join("، "))
    : h("span", { class: "state-badge", "data-state": "connected" }, t("sw.complete"))),
  h("div", { class: "cards" },
    field(id("code"), t("sw.code"), h("input", { value: b.code, dir: "ltr", pattern: "[a-z0-9-]+" })),
    field(id("name"), t("sw.nameEn"), h("input", { value: b.name, dir: "ltr" })),
    field(id("name_ar"), t("sw.nameAr"), h("input", { value: b.name_ar, dir: "rtl" })),
    field(id("address"), t("sw.address"), h("input", { value: b.address, dir: "auto" })),
    field(id("lat"), t("sw.latitude"), h("input", { type: "number", step: "any", min: "-90", max: "90", value: b.latitude, dir: "ltr" })),
    field(id("lon"), t("sw.longitude"), h("input", { type: "number", step: "any", min: "-180", max: "180", value: b.longitude, dir: "ltr" })),
    field(id("open"), t("sw.opens"), h("input", { type: "time", value: hm(span ? span.start : 540), dir: "ltr" })),
    field(id("close"), t("sw.closes"), h("input", { type: "time", value: hm(span ? span.end : 1380), dir: "ltr" })),
    h("div", {}, h("label", { for: id("active") }, h("input", { type: "checkbox", id: id("active"), checked: b.is_active }), " ", t("sw.active")))),
  h("button", { type: "submit", class: "btn primary" }, t("save")));
  return form;
}

async function carriedOver(el, branches) {
  const data = await get(`/api/tickets/${qs({ carried_over: "true", limit: 200 })}`);
  const list = rows(data);
  const act = (id, action, extra = {}) => async () => {
    try {
      await post(`/api/switchover/tickets/${id}/review/`, { action, ...extra });
      toast(t("saved"));
      show("switchover", el);
    } catch (e) { toast(e.message, true); }
  };
  if (!list.length) return h("p", {}, t("sw.noCarried"));
  return h("table", { class: "data carried" },
    h("thead", {}, h("tr", {}, [t("sw.customer"), t("sw.status"), t("sw.lastActivity"), t("actions")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map((r) => {
      const tk = r.ticket;
      const to = h("select", { "aria-label": t("sw.reassignTo") },
        branches.filter((b) => b.branch.is_active).map((b) => h("option", { value: b.branch.id, selected: b.branch.id === tk.branch_id }, nameOf(b.branch))));
      const reassign = () => act(tk.id, "reassign", { branch_id: Number(to.value), note: t("sw.reassignNote") })();
      return h("tr", {},
        h("td", { dir: "auto" }, customerName(r.customer)), h("td", {}, t(`status.${tk.status}`)), h("td", {}, fmtDateTime(tk.last_activity_at)),
        h("td", {},
          h("button", { type: "button", class: "btn", onclick: act(tk.id, "keep") }, t("sw.keep")), " ",
          to, " ", h("button", { type: "button", class: "btn", onclick: reassign }, t("sw.reassign")), " ",
          h("a", { class: "btn", href: `#/inbox/${tk.id}` }, t("sw.openChat")), " ",
          h("button", { type: "button", class: "btn", onclick: act(tk.id, "close") }, t("ticket.close"))));
    })));
}

/** Renders the page into `el`. */
export async function show(_name, el) {
  const st = await get("/api/switchover/");
  clear(el).append(h("h1", {}, t("nav.switchover")),
    h("p", { class: "state-badge", "data-state": st.ready ? "connected" : "disconnected" }, st.ready ? t("sw.ready") : t("sw.notReady")),
    h("ol", { class: "card" },
      h("li", {}, t("sw.step.map"), " — ", st.legacy_branches.length ? t("sw.left", { n: fmtNum(st.legacy_branches.length) }) : t("sw.complete")),
      h("li", {}, t("sw.step.details"), " — ", t("sw.left", { n: fmtNum(st.branches.filter((b) => b.branch.is_active && b.missing.length).length) })),
      h("li", {}, h("a", { href: "#/whatsapp" }, t("sw.step.pair"))),
      h("li", {}, t("sw.step.review"), " — ", t("sw.left", { n: fmtNum(st.carried_over) }))));
  if (st.agents_without_branch) el.append(h("p", {}, t("sw.agentsWithoutBranch", { n: fmtNum(st.agents_without_branch) })));
  el.append(h("h2", {}, t("sw.legacyTitle")));
  if (st.legacy_branches.length) {
    el.append(h("table", { class: "data legacy" },
      h("thead", {}, h("tr", {}, [t("sw.label"), t("sw.code"), t("sw.agents"), t("sw.openTickets"), t("sw.mapTo", { name: "" })].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, st.legacy_branches.map((l) => legacyRow(el, l, st.branches)))));
    el.append(h("h3", {}, t("sw.completeInPlace")), ...st.legacy_branches.map((l) => branchForm(el, l.branch, null)));
  } else {
    el.append(h("p", {}, t("sw.complete")));
  }
  el.append(h("h2", {}, t("sw.carriedTitle")), await carriedOver(el, st.branches));
  el.append(h("h2", {}, t("sw.branchesTitle")), ...st.branches.map((b) => branchForm(el, b.branch, b.missing)));
}
