// Ticket actions (close, transfer with a note, priority, take, reopen) and the customer panel
// (profile, tags, notes, earlier tickets, satisfaction).
import { $, h, clear, toast, initials, openDialog } from "./dom.js";
import { get, post, patch, del, rows, session, customerName } from "./api.js";
import { t, fmtDateTime, fmtNum, currentLang } from "./i18n.js";
import { state, renderList, openTicket } from "./inbox.js";
import { renderTicketLabels } from "./labels.js";

const branchName = (id) => {
  const b = state.branches.get(id);
  if (!b) return id ? `#${id}` : t("branch.none");
  return (currentLang() === "ar" ? b.name_ar : b.name) || b.name;
};

/** Fills the chat header from a ticket. */
export function renderTicketHead(tk) {
  const name = customerName(tk.customer);
  $("chat-title").textContent = name;
  $("chat-avatar").textContent = initials(name);
  $("chat-phone").textContent = tk.customer?.phone ? `+${tk.customer.phone}` : tk.customer?.lid ? `LID ${tk.customer.lid}` : "";
  $("chat-status").textContent = `${t(`status.${tk.status}`)} · #${tk.id}`;
  $("chat-branch").textContent = branchName(tk.branch_id);
  $("chat-priority").value = tk.priority || "normal";
  const closed = tk.status === "closed";
  $("btn-close").hidden = closed;
  $("btn-transfer").hidden = closed;
  $("chat-priority").disabled = closed;
  $("btn-take").hidden = closed || tk.agent_id != null || session.isAdmin || !session.agentId;
  // Carried over from the old system and not reviewed yet: keeping it starts its inactivity clock.
  $("btn-keep").hidden = closed || !tk.carried_over_at;
  $("composer").hidden = closed;
  $("closed-bar").hidden = !closed;
  renderTicketLabels(tk);
}

async function closeTicket() {
  const id = state.current;
  if (!id) return;
  $("close-note").value = "";
  const r = await openDialog($("dlg-close"));
  if (r !== "ok") return;
  try {
    const note = $("close-note").value.trim();
    if (note) await post(`/api/tickets/${id}/notes/`, { body: note });
    const res = await post(`/api/tickets/${id}/close/`, { reason: "resolved" });
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderTicketHead(state.tickets.get(id));
    renderList();
    toast(t("toast.closed"));
  } catch (e) {
    toast(e.message, true);
  }
}

async function fillTransferTargets(kind) {
  const sel = $("transfer-target");
  clear(sel);
  const tk = state.tickets.get(state.current) || {};
  if (kind === "agent") {
    if (!state.agents.size) rows(await get("/api/agents/")).forEach((a) => state.agents.set(a.id, a));
    const list = [...state.agents.values()].filter((a) => a.id !== tk.agent_id && a.is_active !== false)
      .sort((a, b) => (a.branch_id === tk.branch_id ? -1 : 0) - (b.branch_id === tk.branch_id ? -1 : 0) || String(a.name).localeCompare(String(b.name)));
    for (const a of list) {
      const st = a.status ? ` · ${t(`presence.${a.status}`)}` : "";
      sel.append(h("option", { value: a.id }, `${a.name} — ${branchName(a.branch_id)}${st}`));
    }
  } else {
    if (!state.branches.size) rows(await get("/api/branches/")).forEach((b) => state.branches.set(b.id, b));
    for (const b of state.branches.values()) if (b.id !== tk.branch_id) sel.append(h("option", { value: b.id }, branchName(b.id)));
  }
}

async function transferTicket() {
  const id = state.current;
  if (!id) return;
  const form = $("transfer-form");
  form.reset();
  await fillTransferTargets("agent").catch((e) => toast(e.message, true));
  form.querySelectorAll("input[name=kind]").forEach((r) => (r.onchange = () => fillTransferTargets(r.value)));
  const r = await openDialog($("dlg-transfer"));
  if (r !== "ok") return;
  const kind = form.querySelector("input[name=kind]:checked").value;
  const target = Number($("transfer-target").value);
  if (!target) return;
  const note = $("transfer-note").value.trim();
  try {
    const body = kind === "agent" ? { agent_id: target, note } : { branch_id: target, note };
    const res = await post(`/api/tickets/${id}/transfer/`, body);
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderList();
    if (tk) renderTicketHead(tk);
    toast(t("toast.transferred"));
  } catch (e) {
    toast(e.message, true);
  }
}

async function setPriority() {
  const id = state.current;
  const priority = $("chat-priority").value;
  try {
    const res = await patch(`/api/tickets/${id}/`, { priority });
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderList();
  } catch (e) {
    toast(e.message, true);
  }
}

async function takeTicket() {
  const id = state.current;
  try {
    const res = await post(`/api/tickets/${id}/transfer/`, { agent_id: session.agentId, note: t("ticket.takenNote") });
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderTicketHead(tk);
    renderList();
  } catch (e) {
    toast(e.message, true);
  }
}

async function keepTicket() {
  const id = state.current;
  try {
    const res = await post(`/api/switchover/tickets/${id}/review/`, { action: "keep" });
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderTicketHead(tk);
    renderList();
  } catch (e) {
    toast(e.message, true);
  }
}

async function reopenTicket() {
  const id = state.current;
  try {
    const res = await post(`/api/tickets/${id}/reopen/`, {});
    const tk = state.tickets.get(id);
    if (tk) Object.assign(tk, res.ticket);
    renderTicketHead(tk);
    renderList();
  } catch (e) {
    toast(e.message, true);
  }
}

// ---------- customer panel ----------

function togglePanel(show) {
  const p = $("cust-panel");
  const on = show ?? p.hidden;
  p.hidden = !on;
  $("btn-panel").setAttribute("aria-expanded", on ? "true" : "false");
  if (on) { refreshPanel(); p.focus?.(); }
}

/** Reloads the customer panel for the open ticket (when it is shown). */
export async function refreshPanel() {
  const p = $("cust-panel");
  if (p.hidden || !state.current) return;
  const tk = state.tickets.get(state.current);
  const cid = tk?.customer_id;
  if (!cid) return;
  let cust = tk.customer || {};
  let history = [];
  let tags = [];
  let notes = [];
  let ticketNotes = [];
  let transfers = [];
  try {
    const [c, hist, tn, detail] = await Promise.all([get(`/api/customers/${cid}/`), get(`/api/customers/${cid}/history/`).catch(() => null),
      get(`/api/tickets/${tk.id}/notes/`).catch(() => null), get(`/api/tickets/${tk.id}/`).catch(() => null)]);
    ticketNotes = rows(tn);
    transfers = detail?.transfer_log || [];
    cust = c.customer;
    tags = c.tags;
    notes = c.notes;
    const ratings = new Map((hist?.ratings || []).map((x) => [x.ticket_id, x.rating]));
    history = (hist?.tickets || []).map((x) => ({ ...x, rating: ratings.get(x.id) }));
  } catch (e) {
    if (e.status !== 404) toast(e.message, true);
  }
  if (state.current !== tk.id) return;
  clear(p);
  const tagInput = h("input", { id: "tag-input", "aria-label": t("customer.addTag"), placeholder: t("customer.addTag"), dir: "auto" });
  const noteInput = h("textarea", { id: "note-input", rows: "2", "aria-label": t("customer.addNote"), placeholder: t("customer.addNote"), dir: "auto" });
  const tnoteInput = h("textarea", { id: "tnote-input", rows: "2", "aria-label": t("ticket.addNote"), placeholder: t("ticket.addNote"), dir: "auto" });
  p.append(
    h("div", { class: "chat-head-lite" },
      h("button", { type: "button", class: "btn ghost back-panel", onclick: () => togglePanel(false) }, t("close")),
      h("h2", { dir: "auto" }, customerName(cust))),
    h("dl", {},
      h("dt", {}, t("customer.phone")), h("dd", { dir: "ltr" }, cust.phone ? `+${cust.phone}` : "—"),
      h("dt", {}, t("customer.whatsappName")), h("dd", { dir: "auto" }, cust.push_name || "—"),
      h("dt", {}, t("customer.homeBranch")), h("dd", {}, branchName(cust.home_branch_id)),
      h("dt", {}, t("customer.satisfaction")), h("dd", {}, cust.satisfaction != null ? h("span", { class: "stars", "aria-label": `${fmtNum(cust.satisfaction, 1)} / 5` }, "★".repeat(Math.round(cust.satisfaction)) + "☆".repeat(5 - Math.round(cust.satisfaction)), ` ${fmtNum(cust.satisfaction, 1)}`) : "—"),
      h("dt", {}, t("customer.since")), h("dd", {}, cust.created_at ? fmtDateTime(cust.created_at) : "—")),
    h("h3", {}, t("customer.tags")),
    h("div", { class: "taglist" }, tags.length ? tags.map((x) => h("span", { class: "pill", dir: "auto", "data-tag": x }, x,
      h("button", { type: "button", class: "chip-x", "aria-label": t("customer.removeTag", { tag: x }), onclick: async () => {
        try { await del(`/api/customers/${cid}/tags/${encodeURIComponent(x)}/`); refreshPanel(); } catch (er) { toast(er.message, true); }
      } }, "×"))) : h("span", { class: "muted small" }, "—")),
    h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      const tag = tagInput.value.trim();
      if (!tag) return;
      try { await post(`/api/customers/${cid}/tags/`, { tag }); tagInput.value = ""; refreshPanel(); } catch (er) { toast(er.message, true); }
    } }, tagInput, h("button", { type: "submit", class: "btn" }, t("add"))),
    h("h3", {}, t("ticket.notes")),
    // Internal notes and the notes that came with transfers, oldest first.
    h("ul", { class: "ticket-notes", id: "ticket-notes" },
      [...ticketNotes.map((n) => ({ at: n.created_at, body: n.body, who: n.author_name || "" })),
        ...transfers.filter((x) => x.note).map((x) => ({ at: x.at, body: x.note, who: transferLabel(x) }))]
        .sort((a, b) => a.at - b.at)
        .map((n) => h("li", {}, h("div", { dir: "auto" }, n.body), h("div", { class: "muted small" }, h("span", { dir: "auto" }, n.who), " ", fmtDateTime(n.at))))),
    h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      const body = tnoteInput.value.trim();
      if (!body) return;
      try { await post(`/api/tickets/${tk.id}/notes/`, { body }); tnoteInput.value = ""; toast(t("toast.noteSaved")); refreshPanel(); } catch (er) { toast(er.message, true); }
    } }, tnoteInput, h("button", { type: "submit", class: "btn" }, t("add"))),
    h("h3", {}, t("customer.notes")),
    h("ul", {}, notes.map((n) => h("li", {}, h("div", { dir: "auto" }, n.body), h("div", { class: "muted small" }, fmtDateTime(n.created_at))))),
    h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      const body = noteInput.value.trim();
      if (!body) return;
      try { await post(`/api/customers/${cid}/notes/`, { body }); noteInput.value = ""; refreshPanel(); } catch (er) { toast(er.message, true); }
    } }, noteInput, h("button", { type: "submit", class: "btn" }, t("add"))),
    h("h3", {}, t("customer.history")),
    h("ul", {}, history.length ? history.map((x) => h("li", {},
      h("button", { type: "button", class: "btn link", onclick: () => openTicket(x.id) }, `#${x.id}`),
      " ", h("span", { class: `pill ${x.status}` }, t(`status.${x.status}`)),
      " ", h("span", { class: "muted small" }, fmtDateTime(x.created_at)),
      x.rating ? h("span", { class: "stars" }, " ", "★".repeat(x.rating)) : null))
      : h("li", { class: "muted small" }, "—")));
}

/** "Transfer: A → B" for a transfer-log entry. */
function transferLabel(x) {
  const agent = (id) => (id ? state.agents.get(id)?.name : null);
  const branch = (id) => (id ? branchName(id) : null);
  const from = agent(x.from_agent_id) || branch(x.from_branch_id) || "—";
  const to = agent(x.to_agent_id) || branch(x.to_branch_id) || "—";
  return t("ticket.transferNote", { from, to });
}

/** Wires the action buttons once. */
export function initTicketActions() {
  $("btn-close").onclick = closeTicket;
  $("btn-transfer").onclick = transferTicket;
  $("chat-priority").onchange = setPriority;
  $("btn-take").onclick = takeTicket;
  $("btn-keep").onclick = keepTicket;
  $("btn-reopen").onclick = reopenTicket;
  $("btn-panel").onclick = () => togglePanel();
}

/** Keyboard entry points. */
export const actions = { close: closeTicket, transfer: transferTicket, panel: () => togglePanel() };
