// The composer: multi-line text, Enter to send (Shift+Enter for a new line), emoji, files and
// pasted images with previews, templates through "/" with variables filled in, reply-to.
import { $, h, icon, clear, toast } from "./dom.js";
import { get, post, rows, session, customerName } from "./api.js";
import { t, currentLang } from "./i18n.js";
import { fillTemplate, previewText } from "./format.js";
import * as live from "./live.js";
import { state, addMessage } from "./inbox.js";

const EMOJI = ["😊", "🙏", "👍", "❤️", "😂", "😢", "👋", "✅", "💊", "🩺", "🌡️", "📦", "🚚", "⏰", "📍", "📞",
  "🤲", "🌹", "👌", "🙂", "😔", "🎉", "⚠️", "❓"];

let reply = null; // message being answered
let files = []; // {file, url}
let templates = null;
let tplMatches = [];
let tplIndex = 0;
let lastTyping = 0;

/** Sets (or clears) the message being replied to. */
export function setReply(m) {
  reply = m || null;
  $("reply-preview").hidden = !reply;
  $("reply-text").textContent = reply ? previewText(reply, t) : "";
  if (reply) $("composer-text").focus();
}

/** The open ticket changed: clear the draft state that belongs to the old one. */
export function composerTicketChanged(tk) {
  setReply(null);
  clearFiles();
  const closed = tk.status === "closed";
  $("composer").hidden = closed;
  $("closed-bar").hidden = !closed;
  const draft = sessionStorage.getItem(`draft:${tk.id}`) || "";
  $("composer-text").value = draft;
  autosize();
}

function autosize() {
  const ta = $("composer-text");
  ta.style.height = "auto";
  ta.style.height = `${Math.min(ta.scrollHeight + 2, 160)}px`;
}

function clearFiles() {
  files.forEach((f) => f.url && URL.revokeObjectURL(f.url));
  files = [];
  renderFiles();
}

function addFiles(list) {
  for (const file of list) {
    if (file.size > 64 * 1024 * 1024) { toast(t("composer.tooBig", { name: file.name }), true); continue; }
    files.push({ file, url: file.type.startsWith("image/") ? URL.createObjectURL(file) : null });
  }
  renderFiles();
}

function renderFiles() {
  const box = $("attach-preview");
  clear(box);
  box.hidden = files.length === 0;
  files.forEach((f, i) => box.append(h("div", { class: "att" },
    f.url ? h("img", { src: f.url, alt: f.file.name }) : icon("file"),
    h("span", { class: "small", dir: "auto" }, f.file.name),
    h("button", { type: "button", class: "btn ghost icon", "aria-label": t("composer.remove", { name: f.file.name }),
      onclick: () => { if (f.url) URL.revokeObjectURL(f.url); files.splice(i, 1); renderFiles(); } }, icon("x")))));
}

async function send() {
  const id = state.current;
  if (!id) return;
  const ta = $("composer-text");
  const text = ta.value.replace(/\s+$/, "");
  if (!text.trim() && files.length === 0) return;
  const btn = $("btn-send");
  btn.disabled = true;
  // The service was busy and stored nothing: api.js sends the same request again on its own.
  const retrying = { onRetry: () => { $("composer-status").hidden = false; } };
  try {
    const replyTo = reply?.id ?? null;
    const sent = [];
    if (files.length) {
      for (const [i, f] of files.entries()) {
        const fd = new FormData();
        fd.append("ticket_id", String(id));
        if (i === 0 && text.trim()) fd.append("text", text);
        if (replyTo) fd.append("reply_to", String(replyTo));
        fd.append("file", f.file, f.file.name);
        sent.push(await post("/api/messages/send/", fd, retrying));
      }
    } else {
      sent.push(await post("/api/messages/send/", { ticket_id: id, text, reply_to: replyTo }, retrying));
    }
    for (const s of sent) addMessage(s.message);
    ta.value = "";
    sessionStorage.removeItem(`draft:${id}`);
    autosize();
    setReply(null);
    clearFiles();
  } catch (e) {
    toast(t("toast.sendError", { msg: e.message }), true);
  } finally {
    $("composer-status").hidden = true;
    btn.disabled = false;
    ta.focus();
  }
}

// ---------- templates ----------

async function loadTemplates() {
  if (templates) return templates;
  try {
    templates = rows(await get("/api/templates/"));
  } catch {
    templates = [];
  }
  return templates;
}

function templateVars() {
  const tk = state.tickets.get(state.current) || {};
  const c = tk.customer || {};
  const b = state.branches.get(tk.branch_id) || {};
  return {
    customer_name: c.name || c.push_name || "",
    agent_name: session.user?.name || "",
    branch_name: (currentLang() === "ar" ? b.name_ar : b.name) || b.name || "",
    branch_name_ar: b.name_ar || "",
    branch_address: b.address || "",
    branch_phone: b.phone || "",
    ticket_id: tk.id || "",
  };
}

async function updateTemplateMenu() {
  const ta = $("composer-text");
  const v = ta.value;
  const menu = $("template-menu");
  const m = /^\/(\S*)$/.exec(v);
  if (!m) { hideTemplates(); return; }
  const q = m[1].toLowerCase();
  const all = await loadTemplates();
  tplMatches = all.filter((x) => !q || x.key?.toLowerCase().includes(q) || x.title?.toLowerCase().includes(q) || x.body?.toLowerCase().includes(q)).slice(0, 30);
  tplIndex = 0;
  clear(menu);
  if (!tplMatches.length) {
    menu.append(h("li", { role: "option", "aria-disabled": "true", class: "muted" }, t("composer.noTemplates")));
  }
  tplMatches.forEach((x, i) => menu.append(h("li", {
    role: "option", id: `tpl-${i}`, "aria-selected": i === 0 ? "true" : "false",
    onmousedown: (e) => { e.preventDefault(); pickTemplate(i); },
  }, h("span", { class: "key", dir: "auto" }, `/${x.key} · ${x.title || ""}`), h("span", { class: "txt", dir: "auto" }, x.body))));
  menu.hidden = false;
  ta.setAttribute("aria-controls", "template-menu");
  if (tplMatches.length) ta.setAttribute("aria-activedescendant", "tpl-0");
  else ta.removeAttribute("aria-activedescendant");
}

function hideTemplates() {
  $("template-menu").hidden = true;
  const ta = $("composer-text");
  ta.removeAttribute("aria-activedescendant");
}

function moveTemplate(d) {
  if (!tplMatches.length) return;
  tplIndex = (tplIndex + d + tplMatches.length) % tplMatches.length;
  $("template-menu").querySelectorAll("li").forEach((li, i) => li.setAttribute("aria-selected", i === tplIndex ? "true" : "false"));
  $(`tpl-${tplIndex}`)?.scrollIntoView({ block: "nearest" });
  $("composer-text").setAttribute("aria-activedescendant", `tpl-${tplIndex}`);
}

function pickTemplate(i) {
  const x = tplMatches[i];
  if (!x) return;
  const ta = $("composer-text");
  ta.value = fillTemplate(x.body, templateVars());
  hideTemplates();
  autosize();
  ta.focus();
  // Select the first placeholder left to fill, if any.
  const open = ta.value.search(/\{\w+\}/);
  if (open >= 0) ta.setSelectionRange(open, ta.value.indexOf("}", open) + 1);
}

// ---------- emoji ----------

function toggleEmoji(show) {
  const menu = $("emoji-menu");
  const on = show ?? menu.hidden;
  menu.hidden = !on;
  $("btn-emoji").setAttribute("aria-expanded", on ? "true" : "false");
  if (on) menu.querySelector("button")?.focus();
}

function insertAtCursor(s) {
  const ta = $("composer-text");
  const a = ta.selectionStart ?? ta.value.length;
  const b = ta.selectionEnd ?? a;
  ta.value = ta.value.slice(0, a) + s + ta.value.slice(b);
  ta.setSelectionRange(a + s.length, a + s.length);
  autosize();
}

/** Wires the composer once. */
export function initComposer() {
  const ta = $("composer-text");
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
  ta.addEventListener("keydown", (e) => {
    const menuOpen = !$("template-menu").hidden;
    if (menuOpen && e.key === "ArrowDown") { e.preventDefault(); moveTemplate(1); return; }
    if (menuOpen && e.key === "ArrowUp") { e.preventDefault(); moveTemplate(-1); return; }
    if (menuOpen && (e.key === "Enter" || e.key === "Tab") && tplMatches.length) { e.preventDefault(); pickTemplate(tplIndex); return; }
    if (menuOpen && e.key === "Escape") { e.preventDefault(); hideTemplates(); return; }
    if (e.key === "Escape" && reply) { e.preventDefault(); setReply(null); return; }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  ta.addEventListener("input", () => {
    autosize();
    if (state.current) sessionStorage.setItem(`draft:${state.current}`, ta.value);
    updateTemplateMenu();
    const now = Date.now();
    if (state.current && ta.value && now - lastTyping > 3000) {
      lastTyping = now;
      live.send({ type: "typing", ticket_id: state.current });
    }
  });
  ta.addEventListener("blur", () => setTimeout(hideTemplates, 150));
  ta.addEventListener("paste", (e) => {
    const imgs = [...(e.clipboardData?.files || [])];
    if (imgs.length) { e.preventDefault(); addFiles(imgs); }
  });
  $("chat").addEventListener("dragover", (e) => e.preventDefault());
  $("chat").addEventListener("drop", (e) => {
    if (!state.current || !e.dataTransfer?.files?.length) return;
    e.preventDefault();
    addFiles([...e.dataTransfer.files]);
  });
  $("btn-attach").onclick = () => $("file-input").click();
  $("file-input").onchange = (e) => { addFiles([...e.target.files]); e.target.value = ""; ta.focus(); };
  $("reply-cancel").onclick = () => { setReply(null); ta.focus(); };
  const em = $("emoji-menu");
  EMOJI.forEach((x) => em.append(h("button", { type: "button", "aria-label": x, onclick: () => { insertAtCursor(x); toggleEmoji(false); ta.focus(); } }, x)));
  em.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { toggleEmoji(false); $("btn-emoji").focus(); }
    const btns = [...em.querySelectorAll("button")];
    const i = btns.indexOf(document.activeElement);
    const rtl = document.dir === "rtl";
    const step = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1, ArrowDown: 8, ArrowUp: -8 }[e.key];
    if (step && i >= 0) { e.preventDefault(); btns[(i + step + btns.length) % btns.length].focus(); }
  });
  $("btn-emoji").onclick = () => toggleEmoji();
}

/** Focuses the composer (Alt+R). */
export const focusComposer = () => $("composer-text").focus();

/** The name shown for a customer (re-exported for the notification text). */
export const nameOf = customerName;
