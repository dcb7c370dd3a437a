// Entry point: session, login, the header, hash routing between pages, keyboard shortcuts.
import { $, h, toast, openDialog, clear } from "./dom.js";
import { get, post, setCsrf, session, setUnauthorizedHandler } from "./api.js";
import { t, applyI18n, setLang, currentLang, onLangChange } from "./i18n.js";
import * as live from "./live.js";
import * as notify from "./notify.js";
import { initInbox, showInbox, stepTicket, selectTab, state, leaveTicket } from "./inbox.js";
import { actions } from "./ticket.js";
import { focusComposer } from "./composer.js";
import { initLinkBanner } from "./linkbanner.js";
import { initPush } from "./push.js";

const PAGES = ["inbox", "account", "dashboard", "whatsapp", "agents", "templates", "settings", "activity", "switchover"];
// Pages every user may open; the others are admins'.
const OPEN_PAGES = ["inbox", "account"];
let inboxReady = false;

function showLogin() {
  live.stop();
  session.user = null;
  $("view-app").hidden = true;
  $("view-login").hidden = false;
  $("login-form").hidden = false;
  $("pw-form").hidden = true;
  document.title = t("brand");
  $("login-error").textContent = "";
  $("login-username").focus();
}

/** The first-run admin's generated password: the API refuses everything else until it changes. */
function showPasswordChange(current = "") {
  live.stop();
  $("view-app").hidden = true;
  $("view-login").hidden = false;
  $("login-form").hidden = true;
  $("pw-form").hidden = false;
  $("pw-error").textContent = "";
  $("pw-current").value = current;
  (current ? $("pw-new") : $("pw-current")).focus();
}

async function changePassword(e) {
  e.preventDefault();
  const err = $("pw-error");
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  if (next.length < 8) { err.textContent = t("pw.short"); return; }
  if (next !== $("pw-repeat").value) { err.textContent = t("pw.mismatch"); return; }
  $("pw-submit").disabled = true;
  err.textContent = "";
  try {
    await post("/auth/password", { current_password: current, new_password: next });
    for (const id of ["pw-current", "pw-new", "pw-repeat"]) $(id).value = "";
    const prof = await get("/auth/profile");
    await enterApp(prof.user);
  } catch (er) {
    err.textContent = er.details?.field === "current_password" ? t("pw.wrong") : er.status === 429 ? t("login.throttled") : er.message;
  } finally {
    $("pw-submit").disabled = false;
  }
}


async function enterApp(user, password = "") {
  if (user.must_change_password) { session.user = null; showPasswordChange(password); return; }
  session.user = user;
  session.isAdmin = user.role === "admin";
  // `UserView.agent_id`: the caller's agent seat (null for an admin without one).
  session.agentId = user.agent_id;
  document.body.classList.toggle("is-admin", session.isAdmin);
  // Admins see every agent's conversations under the first tab.
  $("tab-mine-label").dataset.i18n = session.isAdmin ? "list.assigned" : "list.mine";
  $("tab-mine-label").textContent = t($("tab-mine-label").dataset.i18n);
  $("me-name").textContent = user.name || user.username;
  $("view-login").hidden = true;
  $("view-app").hidden = false;
  notify.setBaseTitle(t("brand"));
  live.start();
  initPush();
  if (!inboxReady) { initInbox(); inboxReady = true; }
  if (session.agentId) setPresence("online", false);
  route();
}

async function setPresence(status, report = true) {
  $("presence").value = status;
  if (!session.agentId) return;
  try {
    await post(`/api/agents/${session.agentId}/status/`, { status });
  } catch (e) {
    if (report) toast(e.message, true);
  }
}

/** Shows the page named in the hash (#/inbox/12, #/dashboard, ...). */
async function route() {
  if (!session.user) return;
  const [, page = "inbox", arg] = location.hash.match(/^#\/(\w+)(?:\/(\w+))?/) || [];
  const name = PAGES.includes(page) && (OPEN_PAGES.includes(page) || session.isAdmin) ? page : "inbox";
  for (const p of PAGES) $(`page-${p}`).hidden = p !== name;
  document.querySelectorAll(".mainnav a").forEach((a) => (a.dataset.page === name ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  try {
    if (name === "inbox") await showInbox(arg ? Number(arg) : null);
    else {
      leaveTicket();
      const mod = await import(name === "dashboard" ? "./dashboard.js" : name === "whatsapp" ? "./whatsapp.js" : name === "switchover" ? "./switchover.js"
        : name === "account" ? "./accounts.js" : "./admin.js");
      await mod.show(name, $(`page-${name}`), arg);
    }
  } catch (e) {
    toast(e.message, true);
  }
}

const SHORTCUTS = [
  ["/", "shortcut.search"], ["Ctrl+K", "shortcut.search"], ["Alt+↓", "shortcut.next"], ["Alt+↑", "shortcut.prev"],
  ["Alt+1 / 2 / 3", "shortcut.tabs"], ["Alt+R", "shortcut.reply"], ["Enter", "shortcut.send"], ["Shift+Enter", "shortcut.newline"],
  ["/…", "shortcut.templates"], ["Alt+C", "shortcut.close"], ["Alt+T", "shortcut.transfer"], ["Alt+I", "shortcut.panel"],
  ["Esc", "shortcut.escape"], ["?", "shortcut.help"],
];

function showShortcuts() {
  const dl = clear($("shortcut-list"));
  for (const [k, key] of SHORTCUTS) dl.append(h("dt", {}, h("kbd", { dir: "ltr" }, k)), h("dd", {}, t(key)));
  openDialog($("dlg-shortcuts"));
}

function onKey(e) {
  if (!session.user || document.querySelector("dialog[open]")) return;
  const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
  const inInbox = !$("page-inbox").hidden;
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") { e.preventDefault(); location.hash = "#/inbox"; $("search").focus(); $("search").select(); return; }
  if (e.altKey && !e.ctrlKey && inInbox) {
    const k = e.code;
    const map = {
      ArrowDown: () => stepTicket(1), ArrowUp: () => stepTicket(-1), Digit1: () => selectTab(0), Digit2: () => selectTab(1), Digit3: () => selectTab(2),
      KeyR: () => focusComposer(), KeyC: () => state.current && actions.close(), KeyT: () => state.current && actions.transfer(), KeyI: () => state.current && actions.panel(),
    };
    if (map[k]) { e.preventDefault(); map[k](); }
    return;
  }
  if (typing) return;
  if (e.key === "/" && inInbox) { e.preventDefault(); $("search").focus(); }
  else if (e.key === "?") { e.preventDefault(); showShortcuts(); }
}

async function boot() {
  applyI18n();
  setUnauthorizedHandler(() => { if (session.user) { toast(t("toast.sessionExpired"), true); showLogin(); } });
  document.querySelectorAll(".lang-toggle").forEach((b) => (b.onclick = () => setLang(currentLang() === "ar" ? "en" : "ar")));
  onLangChange(() => { notify.setBaseTitle(t("brand")); if (session.user) route(); else document.title = t("brand"); });
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    const err = $("login-error");
    if (!username || !password) { err.textContent = t("login.missing"); return; }
    $("login-submit").disabled = true;
    err.textContent = "";
    try {
      const res = await post("/auth/login", { username, password });
      setCsrf(res.csrf_token);
      $("login-password").value = "";
      notify.askPermission();
      await enterApp(res.user, password);
    } catch (er) {
      err.textContent = er.status === 401 || er.status === 403 ? t("login.failed") : er.status === 429 ? t("login.throttled") : er.message;
      $("login-password").select();
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("pw-form").addEventListener("submit", changePassword);
  $("logout").onclick = async () => {
    try { if (session.agentId) await post(`/api/agents/${session.agentId}/status/`, { status: "offline" }); } catch { /* ignore */ }
    try { await post("/auth/logout"); } catch { /* already gone */ }
    // Shared counter PCs: forget this agent's drafts and in-memory conversations.
    sessionStorage.clear();
    location.replace(location.pathname);
  };
  $("presence").onchange = (e) => setPresence(e.target.value);
  $("shortcuts-btn").onclick = showShortcuts;
  const sound = $("sound-btn");
  sound.setAttribute("aria-pressed", String(notify.soundOn()));
  sound.onclick = () => {
    notify.setSound(!notify.soundOn());
    sound.setAttribute("aria-pressed", String(notify.soundOn()));
    if (notify.soundOn()) notify.chime();
  };
  live.on("adminAlert", (ev) => { if (session.isAdmin && ev.alert) toast(ev.alert.message, true); });
  initLinkBanner();
  live.onState((s) => {
    const el = $("conn-state");
    el.dataset.state = s;
    el.setAttribute("aria-label", t(`conn.${s}`));
    el.title = t(`conn.${s}`);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  try {
    const prof = await get("/auth/profile", { quiet401: true });
    if (prof.csrf_token) setCsrf(prof.csrf_token);
    await enterApp(prof.user || prof);
  } catch {
    showLogin();
  }
}

boot();
