// Conversation labels (the reason a customer wrote): chips on inbox rows and in the chat
// header, the inbox's label filter, putting labels on and taking them off the open ticket,
// and the admins' list of labels (add, rename, recolour, archive, restore).
import { $, h, clear, toast } from "./dom.js";
import { get, post, patch, put, del, session } from "./api.js";
import { t } from "./i18n.js";
import { state, renderList } from "./inbox.js";

/** id -> label (archived ones too: old tickets keep theirs). */
export const labels = new Map();

/** The colours the server accepts (domain::label::LabelColor). */
export const COLORS = ["gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"];

const byName = (a, b) => String(a.name).localeCompare(String(b.name));

/** Reloads the labels and the inbox filter's choices. */
export async function loadLabels() {
  const r = await get("/api/labels/?archived=true");
  labels.clear();
  for (const l of r.labels || []) labels.set(l.id, l);
  fillFilter();
}

/** A label's chip; `onRemove` adds a small remove button. */
export function chip(l, onRemove) {
  return h("span", { class: `pill label label-${COLORS.includes(l.color) ? l.color : "gray"}`, "data-label": l.id, dir: "auto" },
    l.name,
    onRemove ? h("button", { type: "button", class: "chip-x", "aria-label": t("labels.removeOf", { name: l.name }), onclick: onRemove }, "×") : null);
}

/** The chips of a ticket's label ids (for inbox rows). */
export function chipsFor(ids) {
  return (ids || []).map((id) => labels.get(id)).filter(Boolean).sort(byName).map((l) => chip(l));
}

/** Whether a ticket passes the inbox's label filter. */
export const passesFilter = (tk) => !state.labelFilter || (tk.labels || []).includes(state.labelFilter);

function fillFilter() {
  const sel = $("label-filter");
  if (!sel) return;
  const keep = state.labelFilter;
  clear(sel).append(h("option", { value: "" }, t("labels.all")),
    ...[...labels.values()].filter((l) => !l.archived_at).sort(byName).map((l) => h("option", { value: l.id }, l.name)));
  sel.value = keep && labels.has(keep) ? String(keep) : "";
  state.labelFilter = sel.value ? Number(sel.value) : null;
}

/** Draws the open ticket's labels in the chat header; who may act gets add and remove. */
export function renderTicketLabels(tk) {
  const box = $("chat-labels");
  if (!box || !tk) return;
  const ids = tk.labels || [];
  // The server decides (an agent acts on the tickets they work); closed ones are read-only here.
  const canAct = session.isAdmin || tk.status !== "closed";
  const onTicket = ids.map((id) => labels.get(id)).filter(Boolean).sort(byName);
  clear(box).append(...onTicket.map((l) => chip(l, canAct ? () => change(tk.id, l.id, false) : null)));
  if (!canAct) return;
  const free = [...labels.values()].filter((l) => !l.archived_at && !ids.includes(l.id)).sort(byName);
  if (!free.length) return;
  const sel = h("select", { id: "label-add", class: "label-add", "aria-label": t("labels.add") },
    h("option", { value: "" }, `+ ${t("labels.add")}`), ...free.map((l) => h("option", { value: l.id }, l.name)));
  sel.onchange = () => { if (sel.value) change(tk.id, Number(sel.value), true); };
  box.append(sel);
}

async function change(ticketId, labelId, on) {
  try {
    const path = `/api/tickets/${ticketId}/labels/${labelId}/`;
    const r = on ? await put(path, {}) : await del(path);
    applyTicketLabels(ticketId, r.labels);
  } catch (e) {
    toast(e.message, true);
  }
}

/** A ticket's labels as the server says they are now (an answer or a `ticketLabels` event). */
export function applyTicketLabels(ticketId, list) {
  for (const l of list || []) if (!labels.has(l.id)) labels.set(l.id, l);
  const tk = state.tickets.get(ticketId);
  if (!tk) return;
  tk.labels = (list || []).map((l) => l.id);
  if (ticketId === state.current) renderTicketLabels(tk);
  renderList();
}

/** Wires the inbox filter once. */
export function initLabels() {
  const sel = $("label-filter");
  if (sel) sel.onchange = () => { state.labelFilter = sel.value ? Number(sel.value) : null; renderList(); };
}

// ---------- admins: the list of labels ----------

function colorSelect(id, value) {
  return h("select", { id, "aria-label": t("labels.color") }, COLORS.map((c) => h("option", { value: c, selected: c === value }, t(`color.${c}`))));
}

/** The admins' labels section (on the templates page). */
export async function labelsSection(box = h("section", { class: "card", id: "labels-admin", "aria-labelledby": "labels-h" })) {
  await loadLabels().catch((e) => toast(e.message, true));
  const redraw = () => labelsSection(box);
  const save = async (l, body) => {
    try { await patch(`/api/labels/${l.id}/`, body); toast(t("saved")); redraw(); } catch (e) { toast(e.message, true); }
  };
  const all = [...labels.values()].sort((a, b) => (a.archived_at ? 1 : 0) - (b.archived_at ? 1 : 0) || byName(a, b));
  const rowsEl = all.map((l) => {
    const name = h("input", { value: l.name, dir: "auto", maxlength: "40", required: true, "aria-label": t("labels.nameOf", { name: l.name }) });
    const color = colorSelect(`label-color-${l.id}`, l.color);
    return h("tr", { "data-label-row": l.id, class: l.archived_at ? "muted" : null },
      h("td", {}, chip(l)), h("td", {}, name), h("td", {}, color),
      h("td", {},
        h("button", { type: "button", class: "btn", onclick: () => save(l, { name: name.value, color: color.value }) }, t("save")), " ",
        l.archived_at
          ? h("button", { type: "button", class: "btn", onclick: () => save(l, { archived: false }) }, t("labels.restore"))
          : h("button", { type: "button", class: "btn danger", onclick: () => save(l, { archived: true }) }, t("labels.archive"))));
  });
  const newName = h("input", { id: "new-label-name", required: true, dir: "auto", maxlength: "40" });
  const newColor = colorSelect("new-label-color", "gray");
  clear(box).append(
    h("h2", { id: "labels-h" }, t("labels.title")),
    h("p", { class: "muted" }, t("labels.hint")),
    h("table", { class: "data" },
      h("thead", {}, h("tr", {}, [t("labels.label"), t("labels.name"), t("labels.color"), t("actions")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rowsEl)),
    h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      try { await post("/api/labels/", { name: newName.value, color: newColor.value }); toast(t("saved")); redraw(); } catch (er) { toast(er.message, true); }
    } },
    h("label", { for: "new-label-name" }, t("labels.new")), newName, newColor, h("button", { type: "submit", class: "btn primary" }, t("add"))));
  return box;
}
