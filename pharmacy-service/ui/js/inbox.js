// The agent inbox: chat list (mine / branch queue / closed, search, unread, live) and the chat
// window (bubbles of every kind, ticks, day separators, older messages on scroll).
import { $, h, icon, clear, toast, initials } from "./dom.js";
import { get, post, del, rows, qs, customerName, mediaUrl, session, nextCursor } from "./api.js";
import { t, fmtTime, fmtDay, fmtShort, onLangChange } from "./i18n.js";
import { formatWhatsApp, previewText, contactName } from "./format.js";
import { kindBody, editedMark, viewOnceMark, OWN_BODY } from "./kinds.js";
import * as live from "./live.js";
import * as notify from "./notify.js";
import { initComposer, setReply, composerTicketChanged } from "./composer.js";
import { initTicketActions, renderTicketHead, refreshPanel } from "./ticket.js";
import { ListLoads, pruned } from "./listload.js";
import { applyTicketLabels, chipsFor, initLabels, loadLabels, passesFilter } from "./labels.js";

/** Inbox state shared with the composer and the ticket actions. */
export const state = {
  tab: "mine",
  search: "",
  labelFilter: null, // label id the list is narrowed to
  tickets: new Map(), // id -> ticket (with .customer, .last, .unread, .labels)
  current: null, // open ticket id
  messages: new Map(), // id -> message of the open ticket
  byWa: new Map(), // wa_id -> message
  oldestId: null,
  olderCursor: null, // `before` of the next older page (null: the first message is drawn)
  loadingOlder: false,
  branches: new Map(),
  agents: new Map(),
};

/** Tells the server this user has read the ticket up to `msgId` (the unread counts of the
 * list are the server's, per user, so another browser or a reload agrees). */
function markSeen(id, msgId) {
  post(`/api/tickets/${id}/read/`, msgId ? { message_id: msgId } : {}).catch(() => {});
}

// ---------- list ----------

function tabOf(tk) {
  if (tk.status === "closed") return "closed";
  if (tk.agent_id === null || tk.agent_id === undefined) return "queue";
  if (session.isAdmin) return "mine";
  return tk.agent_id === session.agentId ? "mine" : null;
}

/** Merges a ticket as it is now into the list, with what else is known of it: its customer
 * (inbox rows and ticket details carry it; live events do not), its last message (the
 * preview) and the caller's unread count (inbox rows). */
function upsertTicket(ticket, { customer, last, unread, labels } = {}) {
  const old = state.tickets.get(ticket.id) || {};
  const merged = {
    ...old,
    ...ticket,
    customer: customer || old.customer,
    last: last || old.last || null,
    unread: unread ?? old.unread ?? 0,
    labels: labels ?? old.labels ?? [],
  };
  state.tickets.set(merged.id, merged);
  return merged;
}

/** An inbox row (`InboxItem`) into the list. */
const upsertRow = (r) => upsertTicket(r.ticket, { customer: r.customer, last: r.last_message, unread: r.unread, labels: r.labels });

/** A ticket detail (`get_ticket`) into the list. */
const upsertDetail = (d) => upsertTicket(d.ticket, { customer: d.customer, labels: d.labels?.map((l) => l.id) });

/** The most open (and pending) conversations the list holds: a busy branch's whole day. */
const LIST_MAX = 2000;

/** Every page of one status, newest activity first, up to `max` rows (pages of 200). */
async function allPages(status, text, max) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(`/api/tickets/${qs({ status, text, limit: 200, cursor })}`);
    items.push(...rows(page));
    cursor = nextCursor(page);
  } while (cursor && items.length < max);
  return items;
}

/** The list's loads: the latest one's answer applies, live changes made meanwhile stand. */
const loads = new ListLoads();

/** Loads the lists from the server (all three tabs, so the counters are right): every open
 * and pending conversation, the newest closed ones. */
export async function loadTickets() {
  const load = loads.start();
  let answer;
  try {
    answer = await fetchLists(state.search.trim());
  } catch (e) {
    loads.finish(load);
    throw e;
  }
  const { latest, touched } = loads.finish(load);
  // A newer load (another search, a resync) overtook this one: its answer is older news.
  if (!latest) return;
  const keep = new Set();
  for (const r of answer.rows) {
    // A ticket a live event changed meanwhile is newer than this row: it keeps its state.
    if (touched.has(r.ticket.id) && state.tickets.has(r.ticket.id)) upsertTicket(state.tickets.get(r.ticket.id), { customer: r.customer });
    else upsertRow(r);
    keep.add(r.ticket.id);
  }
  for (const { detail, last } of answer.found) {
    const id = detail.ticket.id;
    keep.add(id);
    if (touched.has(id) && state.tickets.has(id)) continue;
    const tk = upsertDetail(detail);
    tk.last = last || tk.last;
  }
  // Drop what the search no longer matches (but keep the open one, and what changed live).
  for (const id of pruned(state.tickets.keys(), keep, { current: state.current, touched })) state.tickets.delete(id);
  renderList();
}

/** The inbox rows of the three tabs for the search `text`, and the tickets found by their
 * messages (with the matching message). */
async function fetchLists(text) {
  const [open, pending, closed] = await Promise.all([
    allPages("open", text, LIST_MAX),
    allPages("pending", text, LIST_MAX),
    get(`/api/tickets/${qs({ status: "closed", text, limit: 50 })}`).then(rows),
  ]);
  const listed = [...open, ...pending, ...closed];
  const found = [];
  // Searching also looks inside messages (Arabic spelling variants match on the server).
  if (text) {
    const ids = new Set(listed.map((r) => r.ticket.id));
    const hits = rows(await get(`/api/messages/search/${qs({ q: text, limit: 50 })}`).catch(() => []));
    const extra = [...new Set(hits.map((m) => m.ticket_id))].filter((id) => !ids.has(id)).slice(0, 20);
    const details = await Promise.all(extra.map((id) => get(`/api/tickets/${id}/`).catch(() => null)));
    for (const d of details.filter(Boolean)) found.push({ detail: d, last: hits.find((m) => m.ticket_id === d.ticket.id) });
  }
  return { rows: listed, found };
}

function sortKey(tk) {
  return tk.last?.created_at || tk.last_activity_at || tk.created_at || 0;
}

/** Redraws the chat list and the counters. */
export function renderList() {
  const list = $("ticket-list");
  const all = [...state.tickets.values()].sort((a, b) => sortKey(b) - sortKey(a));
  const counts = { mine: 0, queue: 0, closed: 0 };
  let unreadTotal = 0;
  for (const tk of all) {
    const tab = tabOf(tk);
    if (tab) counts[tab]++;
    if (tab === "mine" || tab === "queue") unreadTotal += tk.unread || 0;
  }
  $("count-mine").textContent = counts.mine || "";
  $("count-queue").textContent = counts.queue || "";
  notify.setUnread(unreadTotal);
  const shown = all.filter((tk) => tabOf(tk) === state.tab && passesFilter(tk));
  // Keep keyboard focus on the same conversation across live redraws.
  const focused = document.activeElement?.closest?.("#ticket-list [data-ticket]")?.dataset.ticket;
  // Built off the page and put in at once: one layout for the whole list, however long.
  const rowsFragment = document.createDocumentFragment();
  for (const tk of shown) rowsFragment.append(ticketItem(tk));
  list.replaceChildren(rowsFragment);
  if (focused) list.querySelector(`[data-ticket="${focused}"]`)?.focus();
  $("list-empty").hidden = shown.length > 0;
  // For the inbox bench (`cargo bench -p pharmacy-service --bench inbox`): navigation start to
  // the list drawn with this many rows (marked when the count changes, so marks stay few).
  if (shown.length !== markedRows) {
    markedRows = shown.length;
    performance.mark("inbox-list", { detail: { rows: shown.length } });
  }
}

let markedRows = -1;

function ticketItem(tk) {
  const name = customerName(tk.customer);
  const preview = tk.last ? previewText(tk.last, t) : tk.subject || (tk.customer?.phone ? `+${tk.customer.phone}` : "");
  const unread = tk.unread || 0;
  return h("li", {},
    h("button", {
      type: "button", class: "ticket-item", "data-ticket": tk.id, "aria-current": tk.id === state.current ? "true" : "false",
      onclick: () => openTicket(tk.id),
    },
    h("span", { class: "avatar", "aria-hidden": "true" }, initials(name)),
    h("span", { class: "name", dir: "auto" }, name),
    h("span", { class: "time" }, fmtShort(sortKey(tk))),
    h("span", { class: "preview", dir: "auto" }, preview),
    unread ? h("span", { class: "unread" }, h("span", { "aria-hidden": "true" }, String(unread)), h("span", { class: "sr-only" }, t("list.unread", { n: unread }))) : h("span"),
    h("span", { class: "tags" },
      tk.priority && tk.priority !== "normal" ? h("span", { class: `pill ${tk.priority}` }, t(`priority.${tk.priority}`)) : null,
      tk.status === "pending" ? h("span", { class: "pill pending" }, t("status.pending")) : null,
      tk.carried_over_at && tk.status !== "closed" ? h("span", { class: "pill" }, t("list.carried")) : null,
      chipsFor(tk.labels))));
}

function setTab(tab, focus = false) {
  state.tab = tab;
  document.querySelectorAll(".tabs [role=tab]").forEach((b) => {
    const on = b.dataset.tab === tab;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
    if (on && focus) b.focus();
  });
  $("ticket-panel").setAttribute("aria-labelledby", `tab-${tab}`);
  renderList();
}

// ---------- chat window ----------

/** Opens a ticket in the chat window. */
export async function openTicket(id, { focusComposer = true } = {}) {
  state.current = id;
  resetPresence();
  state.messages.clear();
  state.byWa.clear();
  state.oldestId = null;
  state.olderCursor = null;
  $("page-inbox").dataset.pane = "chat";
  $("chat-empty").hidden = true;
  $("chat-body").hidden = false;
  clear($("message-list"));
  if (location.hash !== `#/inbox/${id}`) history.replaceState(null, "", `#/inbox/${id}`);
  const known = state.tickets.get(id);
  if (known) renderTicketHead(known);
  renderList();
  try {
    // The newest page only; older pages come from the server as the agent scrolls up.
    const [detail, page] = await Promise.all([get(`/api/tickets/${id}/`), get(`/api/messages/${qs({ ticket: id, before: "latest", limit: PAGE })}`)]);
    if (state.current !== id) return;
    const tk = upsertDetail(detail);
    renderTicketHead(tk);
    state.olderCursor = nextCursor(page);
    for (const m of rows(page)) if (m.wa_id) state.byWa.set(m.wa_id, m);
    for (const m of rows(page)) addMessage(m, { scroll: false });
    scrollToEnd();
    // A short first page may leave nothing to scroll: fetch until the box scrolls or all is in.
    while (state.current === id && state.olderCursor && $("messages").scrollHeight <= $("messages").clientHeight) await loadOlder();
    markRead(id);
    composerTicketChanged(tk);
    refreshPanel();
    live.send({ type: "viewing", ticket_id: id });
    if (focusComposer && !$("composer").hidden) $("composer-text").focus();
  } catch (e) {
    toast(e.message, true);
  }
}

function markRead(id) {
  const tk = state.tickets.get(id);
  const maxId = Math.max(0, ...state.messages.keys());
  if (maxId) markSeen(id, maxId);
  if (tk && tk.unread) { tk.unread = 0; renderList(); }
}

function scrollToEnd() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

const PAGE = 40;

/** Draws the next older page above the first message, keeping the view where it was. */
async function loadOlder() {
  const id = state.current;
  if (!state.olderCursor || state.loadingOlder || !id) return;
  state.loadingOlder = true;
  $("messages").setAttribute("aria-busy", "true");
  try {
    const page = await get(`/api/messages/${qs({ ticket: id, before: state.olderCursor, limit: PAGE })}`);
    if (state.current !== id) return;
    const box = $("messages");
    const before = box.scrollHeight;
    for (const m of rows(page)) if (m.wa_id) state.byWa.set(m.wa_id, m);
    for (const m of rows(page).reverse()) addMessage(m, { scroll: false, prepend: true });
    state.olderCursor = nextCursor(page);
    box.scrollTop += box.scrollHeight - before;
  } catch (e) {
    toast(e.message, true);
  } finally {
    state.loadingOlder = false;
    $("messages").removeAttribute("aria-busy");
  }
}

const TICKS = { queued: "🕓", held: "⏸", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠", cancelled: "⊘" };

function tick(m) {
  if (m.direction !== "out") return null;
  const s = m.status || "queued";
  return h("span", { class: "tick", "data-status": s, role: "img", "aria-label": t(`tick.${s}`), title: t(`tick.${s}`) }, TICKS[s] || "");
}

/** An attachment without its file: downloading, could not be downloaded (retry), too large. */
function mediaState(m) {
  const s = m.media_state;
  return h("div", { class: `media-state ${s}`, role: "status", "data-media-state": s },
    icon("file"), h("span", {}, t(`media.${s}`, { kind: t(`kind.${m.kind}`) })),
    s === "failed"
      ? h("button", { type: "button", class: "btn", "data-media-retry": m.id }, t("media.retry"))
      : null);
}

function mediaBody(m) {
  if (["downloading", "failed", "too_large"].includes(m.media_state)) return mediaState(m);
  const src = m.media_sha256 ? mediaUrl(m.media_sha256) : null;
  switch (m.kind) {
    case "image":
      return src ? h("img", { class: "thumb", src, alt: m.body || t("kind.image"), loading: "lazy", tabindex: "0", role: "button", "data-lightbox": src }) : null;
    case "sticker":
      return src ? h("img", { class: "sticker", src, alt: t("kind.sticker"), loading: "lazy" }) : null;
    case "video":
      return src ? h("video", { src, controls: true, preload: "metadata", "aria-label": t("kind.video") }) : null;
    case "audio": {
      if (!src) return null;
      const a = h("audio", { src, controls: true, preload: "metadata", "aria-label": t("kind.audio") });
      const rate = h("span", {}, "1×");
      const speed = h("button", { type: "button", class: "btn ghost", title: t("audio.speed") }, h("span", { class: "sr-only" }, t("audio.speed")), rate);
      speed.onclick = () => {
        const next = { 1: 1.5, 1.5: 2, 2: 1 }[a.playbackRate] || 1;
        a.playbackRate = next;
        rate.textContent = `${next}×`;
      };
      return h("div", { class: "audio" }, icon("mic"), a, speed);
    }
    case "document":
      return h("a", { class: "doc", href: src || "#", download: m.media_name || "", target: "_blank", rel: "noopener" },
        icon("file"), h("span", { dir: "auto" }, m.media_name || t("kind.document")));
    case "location": {
      const q = `${m.latitude},${m.longitude}`;
      return h("a", { class: "loc", href: `https://www.google.com/maps?q=${encodeURIComponent(q)}`, target: "_blank", rel: "noopener noreferrer" },
        icon("pin"), h("span", { dir: "ltr" }, `${Number(m.latitude).toFixed(5)}, ${Number(m.longitude).toFixed(5)}`));
    }
    case "contact":
      return h("div", { class: "contact" }, icon("contact"), h("span", { dir: "auto" }, contactName(m.body)));
    default:
      return null;
  }
}

const author = (m) => state.agents.get(m.agent_id)?.name || null;

function bubble(m) {
  const out = m.direction === "out";
  const cls = ["msg", out ? "out" : "in"];
  if (m.sender_kind === "system") cls.push("system");
  if (m.reaction) cls.push("has-reaction");
  const quoted = m.quoted_wa_id ? state.byWa.get(m.quoted_wa_id) : null;
  const showBody = m.body && !OWN_BODY.has(m.kind);
  const li = h("li", { class: cls.join(" "), "data-id": m.id, "data-wa": m.wa_id || "", "data-kind": m.kind },
    out && m.sender_kind === "agent" && author(m) ? h("div", { class: "author", dir: "auto" }, author(m)) : null,
    m.quoted_wa_id ? h("div", { class: "quoted", dir: "auto", "data-jump": m.quoted_wa_id }, quoted ? previewText(quoted, t) : t("msg.quoted")) : null,
    m.revoked_at
      ? h("div", { class: "body deleted" }, "🚫 ", t("msg.deleted"))
      : [viewOnceMark(m), kindBody(m) || mediaBody(m), showBody ? h("div", { class: "body", dir: "auto" }, formatWhatsApp(m.kind === "rating" ? `⭐ ${m.body}` : m.body)) : null],
    h("div", { class: "meta" },
      editedMark(m),
      h("time", { datetime: new Date(m.created_at).toISOString() }, fmtTime(m.created_at)),
      tick(m)),
    m.reaction ? h("span", { class: "reaction", role: "img", "aria-label": t("msg.reaction", { r: m.reaction }) }, m.reaction) : null,
    m.revoked_at ? null : h("div", { class: "msg-actions" },
      h("button", { type: "button", class: "btn", "data-reply": m.id, "aria-label": t("msg.reply") }, icon("reply")),
      out && m.sender_kind === "agent" && (session.isAdmin || m.sender_user_id === session.user?.id)
        ? h("button", { type: "button", class: "btn", "data-revoke": m.id, "aria-label": t("msg.revoke") }, icon("x")) : null));
  return li;
}

function daySep(ms) {
  return h("li", { class: "day-sep", "data-day": new Date(ms).toDateString() }, fmtDay(ms));
}

/** Adds or replaces a message in the open chat. */
export function addMessage(m, { scroll = true, prepend = false } = {}) {
  if (m.ticket_id !== undefined && m.ticket_id !== state.current) return;
  const list = $("message-list");
  const stick = scroll && nearBottom();
  const prev = state.messages.get(m.id);
  state.messages.set(m.id, { ...(prev || {}), ...m });
  // A send's own answer (queued) can come after the live events that it was sent or delivered:
  // the tick never goes back.
  if (prev && RANK[m.status] < RANK[prev.status] && RANK[prev.status] <= RANK.read) state.messages.get(m.id).status = prev.status;
  const full = state.messages.get(m.id);
  if (full.wa_id) state.byWa.set(full.wa_id, full);
  const old = list.querySelector(`[data-id="${m.id}"]`);
  const el = bubble(full);
  if (old) { old.replaceWith(el); return; }
  if (state.oldestId === null || m.id < state.oldestId) state.oldestId = m.id;
  const day = new Date(full.created_at).toDateString();
  if (prepend) {
    const first = list.querySelector(".day-sep");
    if (first && first.dataset.day === day) first.after(el);
    else list.prepend(daySep(full.created_at), el);
  } else {
    // Insert in id order (live events can overtake the initial load).
    const msgs = [...list.querySelectorAll(".msg")];
    const before = msgs.reverse().find((x) => Number(x.dataset.id) < m.id);
    const isLast = !before || before === msgs[0];
    if (isLast && (before || msgs.length === 0)) {
      const lastSep = [...list.querySelectorAll(".day-sep")].pop();
      if (!lastSep || lastSep.dataset.day !== day) list.append(daySep(full.created_at));
      list.append(el);
    } else if (before) before.after(el);
    else list.querySelector(".day-sep")?.after(el);
  }
  if (stick) scrollToEnd();
}

/** How far a message got; a later answer never moves its tick back. */
const RANK = { queued: 0, held: 0, sent: 1, delivered: 2, read: 3, failed: 4, cancelled: 4 };

/** Updates one message's delivery status. */
function setStatus(id, status) {
  const m = state.messages.get(id);
  if (!m) return;
  if ((RANK[status] ?? 0) < (RANK[m.status] ?? 0) && status !== "failed") return;
  addMessage({ ...m, status });
}

// ---------- live ----------

function onNewMessage(ev) {
  const m = ev.message;
  if (!m) return;
  loads.touch(m.ticket_id);
  const tk = ev.ticket ? upsertTicket(ev.ticket, { last: m }) : state.tickets.get(m.ticket_id);
  if (tk) tk.last = m;
  if (m.ticket_id === state.current && document.visibilityState === "visible") {
    addMessage(m);
    if (m.direction === "in") markSeen(m.ticket_id, m.id);
  } else {
    if (m.ticket_id === state.current) addMessage(m);
    if (tk && m.direction === "in") tk.unread = (tk.unread || 0) + 1;
  }
  if (m.direction === "in" && tk && (tabOf(tk) === "mine" || tabOf(tk) === "queue")) {
    const mine = session.isAdmin ? false : tk.agent_id === session.agentId;
    if (mine || tk.agent_id == null) {
      if (m.ticket_id !== state.current || document.hidden) notify.chime();
      notify.notify(customerName(tk.customer), previewText(m, t), () => openTicket(tk.id));
    }
  }
  if (tk && !tk.customer) get(`/api/tickets/${tk.id}/`).then((d) => { upsertDetail(d); renderList(); }).catch(() => {});
  renderList();
}

function onTicket(ev) {
  if (!ev.ticket) return;
  loads.touch(ev.ticket.id);
  const tk = upsertTicket(ev.ticket);
  if (tk.id === state.current) renderTicketHead(tk);
  if (ev.type === "ticketAssigned" && tk.agent_id === session.agentId && ev.previous_agent !== session.agentId && !session.isAdmin) {
    notify.chime();
    const say = () => toast(t("toast.assigned", { name: customerName(state.tickets.get(tk.id)?.customer) }));
    if (tk.customer) say();
    else get(`/api/tickets/${tk.id}/`).then((d) => { upsertDetail(d); renderList(); say(); }).catch(say);
  }
  renderList();
}

// Who else has the open ticket: viewers (until they leave) and a replying notice (fades).
const presence = { viewers: new Map(), replying: null, timer: 0 };
function renderPresence() {
  const el = $("chat-typing");
  if (presence.replying) el.textContent = t("chat.typing", { name: presence.replying });
  else if (presence.viewers.size) el.textContent = t("chat.viewing", { name: [...presence.viewers.values()].join(", ") });
  else el.textContent = "";
}
function resetPresence() {
  presence.viewers.clear();
  presence.replying = null;
  clearTimeout(presence.timer);
  renderPresence();
}
function isMe(ev) {
  return ev.user_id === session.user?.id || (ev.agent_id && ev.agent_id === session.agentId);
}
function nameOf(ev) {
  return ev.name || t("someone");
}
function onTyping(ev) {
  if (ev.ticket_id !== state.current || isMe(ev)) return;
  clearTimeout(presence.timer);
  presence.replying = ev.typing === false ? null : nameOf(ev);
  if (presence.replying) presence.timer = setTimeout(() => { presence.replying = null; renderPresence(); }, 6000);
  renderPresence();
}
function onViewing(ev) {
  if (ev.ticket_id !== state.current || isMe(ev)) return;
  const key = ev.user_id ?? ev.agent_id;
  if (ev.viewing === false) presence.viewers.delete(key);
  else presence.viewers.set(key, nameOf(ev));
  renderPresence();
}

/** Tells the others this user no longer has a ticket open. */
export function leaveTicket() {
  if (state.current) live.send({ type: "left" });
  resetPresence();
}

// ---------- setup ----------

/** Wires the inbox once after login. */
export function initInbox() {
  initLabels();
  loadLabels().then(renderList).catch(() => {});
  document.querySelectorAll(".tabs [role=tab]").forEach((b) => (b.onclick = () => setTab(b.dataset.tab)));
  document.querySelector(".tabs").addEventListener("keydown", (e) => {
    const order = ["mine", "queue", "closed"];
    const rtl = document.dir === "rtl";
    let d = 0;
    if (e.key === "ArrowRight") d = rtl ? -1 : 1;
    if (e.key === "ArrowLeft") d = rtl ? 1 : -1;
    if (!d) return;
    e.preventDefault();
    setTab(order[(order.indexOf(state.tab) + d + 3) % 3], true);
  });
  let searchTimer;
  $("search").addEventListener("input", (e) => {
    state.search = e.target.value;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadTickets().catch((er) => toast(er.message, true)), 250);
  });
  $("search").addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.target.value = ""; state.search = ""; loadTickets(); }
    if (e.key === "ArrowDown" || e.key === "Enter") {
      e.preventDefault();
      $("ticket-list").querySelector("button")?.focus();
    }
  });
  $("ticket-list").addEventListener("keydown", (e) => {
    const items = [...$("ticket-list").querySelectorAll("button.ticket-item")];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === "ArrowDown") { e.preventDefault(); items[Math.min(i + 1, items.length - 1)].focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); if (i === 0) $("search").focus(); else items[i - 1].focus(); }
  });
  $("messages").addEventListener("scroll", () => { if ($("messages").scrollTop < 80) loadOlder(); });
  $("message-list").addEventListener("click", (e) => {
    const img = e.target.closest("[data-lightbox]");
    if (img) return openLightbox(img.dataset.lightbox, img.alt);
    const r = e.target.closest("[data-reply]");
    if (r) return setReply(state.messages.get(Number(r.dataset.reply)));
    const mr = e.target.closest("[data-media-retry]");
    if (mr) {
      mr.disabled = true;
      return post(`/api/messages/${mr.dataset.mediaRetry}/media/retry`)
        .then((res) => addMessage(res.message, { scroll: false }))
        .catch((er) => { mr.disabled = false; toast(er.message, true); });
    }
    const rv = e.target.closest("[data-revoke]");
    if (rv && confirm(t("msg.revokeConfirm"))) {
      return del(`/api/messages/${rv.dataset.revoke}/`).then((res) => addMessage(res.message, { scroll: false })).catch((er) => toast(er.message, true));
    }
    const q = e.target.closest("[data-jump]");
    if (q) {
      const target = $("message-list").querySelector(`[data-wa="${CSS.escape(q.dataset.jump)}"]`);
      if (target) { target.scrollIntoView({ block: "center" }); target.classList.add("flash"); setTimeout(() => target.classList.remove("flash"), 1500); }
    }
  });
  $("message-list").addEventListener("keydown", (e) => {
    const img = e.target.closest("[data-lightbox]");
    if (img && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openLightbox(img.dataset.lightbox, img.alt); }
  });
  $("chat-back").onclick = () => {
    $("page-inbox").dataset.pane = "list";
    $("ticket-list").querySelector(`[data-ticket="${state.current}"]`)?.focus();
  };
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.current) markRead(state.current); });
  live.on("newMessage", onNewMessage);
  live.on("messageSent", (ev) => setStatus(ev.message_id, "sent"));
  live.on("messageDelivered", (ev) => setStatus(ev.message_id, "delivered"));
  live.on("messageRead", (ev) => setStatus(ev.message_id, "read"));
  live.on("messageFailed", (ev) => { setStatus(ev.message_id, "failed"); if (ev.ticket_id === state.current) toast(t("toast.sendFailed"), true); });
  live.on("messageUpdated", (ev) => { if (ev.message) addMessage(ev.message, { scroll: false }); });
  live.on("ticketAssigned", onTicket);
  live.on("ticketUpdated", onTicket);
  live.on("ticketLabels", (ev) => { if (ev.ticket) { upsertTicket(ev.ticket); applyTicketLabels(ev.ticket.id, ev.labels); } });
  live.on("ticketClosed", onTicket);
  live.on("typing", onTyping);
  live.on("viewing", onViewing);
  // A new connection starts with no viewers: say again which ticket is open.
  live.on("hello", () => { resetPresence(); if (state.current) live.send({ type: "viewing", ticket_id: state.current }); });
  live.on("resync", () => { loadTickets(); if (state.current) openTicket(state.current, { focusComposer: false }); });
  live.on("newCustomer", () => {});
  initComposer();
  initTicketActions();
  onLangChange(() => { renderPresence(); renderList(); if (state.current) { const tk = state.tickets.get(state.current); if (tk) renderTicketHead(tk); rerenderMessages(); refreshPanel(); } });
  get("/api/branches/").then((d) => rows(d).forEach((b) => state.branches.set(b.id, b))).catch(() => {});
  get("/api/agents/").then((d) => rows(d).forEach((a) => state.agents.set(a.id, a))).catch(() => {});
}

function rerenderMessages() {
  const msgs = [...state.messages.values()].sort((a, b) => a.id - b.id);
  clear($("message-list"));
  state.oldestId = null;
  for (const m of msgs) addMessage(m, { scroll: false });
}

function openLightbox(src, alt) {
  const img = $("lightbox-img");
  img.src = src;
  img.alt = alt || "";
  const dlg = $("dlg-lightbox");
  dlg.querySelector("[data-close]").onclick = () => dlg.close();
  dlg.onclick = (e) => { if (e.target === dlg) dlg.close(); };
  dlg.showModal();
}

/** Shows the inbox page (and the ticket in the hash, if any). */
export async function showInbox(ticketId) {
  await loadTickets();
  if (ticketId && ticketId !== state.current) await openTicket(ticketId);
  else if (!ticketId && !state.current) {
    $("page-inbox").dataset.pane = "list";
    $("search").focus();
  } else live.send({ type: "viewing", ticket_id: state.current });
}

/** Moves to the next/previous conversation of the current tab (Alt+↓ / Alt+↑). */
export function stepTicket(d) {
  const ids = [...$("ticket-list").querySelectorAll("[data-ticket]")].map((b) => Number(b.dataset.ticket));
  if (!ids.length) return;
  const i = ids.indexOf(state.current);
  const next = ids[i < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, i + d))];
  openTicket(next);
}

/** Selects a tab by index (Alt+1..3). */
export const selectTab = (i) => setTab(["mine", "queue", "closed"][i], true);
