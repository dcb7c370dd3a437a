// Admin: pair the shared WhatsApp number (live QR as the refs rotate, or a phone code), see the
// connection state and its health (disconnect reasons, temporary ban, outbox depth), unlink.
import { h, clear, toast, icon } from "./dom.js";
import { get, post, qs } from "./api.js";
import { t, fmtDateTime, fmtNum } from "./i18n.js";
import * as live from "./live.js";

let root = null;
let timer = null;
let lastQr = null;
let wired = false;

// The answers are `LinkStatusView` (GET /api/whatsapp/status) and `QrView`
// (GET /api/whatsapp/qr-code) of the OpenAPI document: one field each is read.
function stateOf(s) {
  return s ? s.state : "unknown";
}

async function refresh() {
  if (!root || root.hidden) { stop(); return; }
  let status = null;
  let qr = null;
  try { status = await get("/api/whatsapp/status/"); } catch { status = null; }
  // The outbox depth comes with the dashboard numbers.
  const dash = await get("/api/analytics/dashboard/").catch(() => null);
  const st = stateOf(status);
  if (st !== "connected") {
    try { qr = await get(`/api/whatsapp/qr-code/${qs({ format: "json" })}`); } catch { qr = null; }
  }
  render(status, st, qr, dash ? dash.outbox_depth : null);
}

function stop() {
  clearInterval(timer);
  timer = null;
}

function render(status, st, qr, depth) {
  const qrString = qr ? qr.qr : null;
  const badge = root.querySelector("#wa-state");
  badge.dataset.state = st;
  badge.textContent = t(`wa.state.${st}`) === `wa.state.${st}` ? st : t(`wa.state.${st}`);
  const box = root.querySelector("#wa-qr");
  if (st === "connected") {
    clear(box).append(h("p", { class: "state-badge", "data-state": "connected" }, icon("check"), t("wa.linked")),
      status.phone ? h("p", { dir: "ltr" }, `+${status.phone}`) : null,
      status.name ? h("p", { dir: "auto" }, status.name) : null);
    root.querySelector("#wa-code").textContent = "";
    lastQr = null;
  } else if (qrString) {
    if (qrString !== lastQr) {
      lastQr = qrString;
      const src = `/api/whatsapp/qr-code/${qs({ format: "svg", v: hash(qrString) })}`;
      clear(box).append(
        h("img", { id: "wa-qr-img", src, alt: t("wa.qrAlt"), width: "280", height: "280", "data-qr": qrString }),
        h("p", { class: "muted small" }, t("wa.qrRotates")));
    }
  } else {
    lastQr = null;
    clear(box).append(h("p", { class: "muted" }, st === "temporary_ban" ? t("wa.banned") : t("wa.waiting")));
  }
  const health = root.querySelector("#wa-health");
  clear(health);
  const rowsOut = [];
  const add = (k, v) => rowsOut.push(h("dt", {}, t(k)), h("dd", {}, v ?? "—"));
  add("wa.health.state", t(`wa.state.${st}`));
  // `ban_until`: ms, or null when not banned (or WhatsApp did not say until when).
  const ban = status ? status.ban_until : null;
  add("wa.health.ban", ban != null ? fmtDateTime(ban) : st === "temporary_ban" ? "—" : t("wa.health.noBan"));
  add("wa.health.outbox", depth != null ? fmtNum(depth) : "—");
  health.append(h("dl", { class: "formula-list" }, rowsOut));
  // The status lists the last ten disconnects, newest first ({at, state, reason}).
  const reasons = status ? status.recent_disconnects : [];
  health.append(h("h3", {}, t("wa.health.disconnects")));
  health.append(reasons.length
    ? h("table", { class: "data" }, h("thead", {}, h("tr", {}, h("th", {}, t("wa.health.when")), h("th", {}, t("wa.health.reason")))),
      h("tbody", {}, reasons.map((r) => h("tr", {}, h("td", {}, fmtDateTime(r.at)), h("td", { dir: "auto" }, r.reason)))))
    : h("p", { class: "muted" }, "—"));
  root.querySelector("#wa-unlink").hidden = st !== "connected";
  if (st === "connected") root.querySelector("#wa-sim-scan").hidden = true;
}

function hash(s) {
  let x = 0;
  for (let i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) | 0;
  return (x >>> 0).toString(36);
}

/** Draws the page and starts polling while it is shown. */
export async function show(_name, el) {
  root = el;
  lastQr = null;
  clear(el).append(
    h("h1", {}, t("wa.title")),
    h("div", { class: "wa-grid" },
      h("section", { class: "qr-box", "aria-labelledby": "wa-qr-h" },
        h("h2", { id: "wa-qr-h" }, t("wa.scan")),
        h("p", { id: "wa-state", class: "state-badge", role: "status", "aria-live": "polite", "data-state": "unknown" }, "…"),
        h("div", { id: "wa-qr", "aria-live": "polite" }),
        h("button", { type: "button", id: "wa-sim-scan", class: "btn", hidden: true, onclick: simulateScan }, t("wa.simScan")),
        h("button", { type: "button", id: "wa-unlink", class: "btn danger", hidden: true, onclick: unlink }, t("wa.unlink"))),
      h("section", { class: "card" },
        h("h2", {}, t("wa.howTo")),
        h("ol", { class: "steps" }, [1, 2, 3, 4].map((i) => h("li", {}, t(`wa.step${i}`)))),
        h("h2", {}, t("wa.phoneCode")),
        h("form", { class: "inline-form", id: "wa-code-form", onsubmit: pairCode },
          h("label", { for: "wa-phone", class: "sr-only" }, t("wa.phone")),
          h("input", { id: "wa-phone", type: "tel", dir: "ltr", placeholder: "2010xxxxxxxx", inputmode: "tel", autocomplete: "off" }),
          h("button", { type: "submit", class: "btn" }, t("wa.getCode"))),
        h("p", { id: "wa-code", class: "paircode", "aria-live": "polite" }),
        h("h2", {}, t("wa.health")),
        h("div", { id: "wa-health" }))));
  if (!wired) {
    wired = true;
    live.on("whatsappStatus", () => { if (root && !root.hidden) refresh(); });
  }
  stop();
  await refresh();
  timer = setInterval(refresh, 3000);
  showDemoScan();
}

// `pharmacy-service demo` adds POST /api/demo/scan (the simulated phone scans the current QR);
// elsewhere the path does not exist (404) and the button stays hidden.
async function showDemoScan() {
  const res = await fetch("/api/demo/scan", { method: "GET", credentials: "same-origin" }).catch(() => null);
  const button = root && root.querySelector("#wa-sim-scan");
  if (button && res && res.status !== 404) button.hidden = stateOf(await get("/api/whatsapp/status/").catch(() => null)) === "connected";
}

async function simulateScan() {
  try {
    await post("/api/demo/scan", {});
    root.querySelector("#wa-sim-scan").hidden = true;
    refresh();
  } catch (er) {
    toast(er.message, true);
  }
}

async function pairCode(e) {
  e.preventDefault();
  const phone = root.querySelector("#wa-phone").value.replace(/\D/g, "");
  if (!phone) return;
  try {
    const r = await post("/api/whatsapp/pair-code/", { phone });
    root.querySelector("#wa-code").textContent = r.code.replace(/^(\w{4})(\w{4})$/, "$1-$2");
  } catch (er) {
    toast(er.message, true);
  }
}

async function unlink() {
  if (!confirm(t("wa.unlinkConfirm"))) return;
  try {
    await post("/api/whatsapp/disconnect/", {});
    toast(t("wa.unlinked"));
    refresh();
  } catch (er) {
    toast(er.message, true);
  }
}
