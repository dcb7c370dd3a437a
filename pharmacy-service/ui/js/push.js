// Web Push opt-in for this browser: the service worker (/sw.js) shows what the server pushes
// (link down/up, slow first responses, new tickets, admin alerts) even with the tab closed.
import { $, toast } from "./dom.js";
import { get, post } from "./api.js";
import { t } from "./i18n.js";

const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function current() {
  const reg = await navigator.serviceWorker.getRegistration("/");
  return reg ? reg.pushManager.getSubscription() : null;
}

function show(btn, on) {
  btn.setAttribute("aria-pressed", String(on));
  // The visible text stays the accessible name (a toggle's state is aria-pressed's); the
  // title only explains it.
  btn.title = t(on ? "push.on" : "push.off");
}

async function subscribe(btn) {
  if ((await Notification.requestPermission()) !== "granted") { toast(t("push.denied"), true); return; }
  const reg = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  const { public_key } = await get("/api/push/key");
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
  await post("/api/push/subscribe", sub.toJSON());
  show(btn, true);
  toast(t("push.enabled"));
}

async function unsubscribe(btn) {
  const sub = await current();
  if (sub) {
    await post("/api/push/unsubscribe", { endpoint: sub.endpoint });
    await sub.unsubscribe();
  }
  show(btn, false);
}

/** Wires the opt-in button (hidden where the browser has no Web Push, e.g. plain http off localhost). */
export async function initPush() {
  const btn = $("push-btn");
  if (!supported() || !window.isSecureContext) { btn.hidden = true; return; }
  btn.hidden = false;
  try { show(btn, Boolean(await current())); } catch { show(btn, false); }
  btn.onclick = async () => {
    btn.disabled = true;
    try {
      if (btn.getAttribute("aria-pressed") === "true") await unsubscribe(btn);
      else await subscribe(btn);
    } catch (e) {
      toast(e.message || t("push.failed"), true);
    } finally {
      btn.disabled = false;
    }
  };
}
