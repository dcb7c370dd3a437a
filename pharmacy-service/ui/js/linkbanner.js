// The WhatsApp link banner: every user sees at once when replies cannot go out (the link is
// down, logged out, banned or not linked) or incoming messages cannot be stored. The live
// socket's hello carries the state at connect time; `whatsappLink` (agents) and
// `whatsappStatus` (admins) carry each change.
import { $ } from "./dom.js";
import { t, onLangChange } from "./i18n.js";
import * as live from "./live.js";

const DOWN = {
  disconnected: "banner.disconnected",
  unpaired: "banner.unpaired",
  logged_out: "banner.loggedOut",
  temporary_ban: "banner.ban",
  outdated: "banner.outdated",
};
const LINK_STATES = ["connected", "connecting", "disconnected", "unpaired", "logged_out", "temporary_ban", "outdated"];
let link = null;
let storeFailed = false;

function render() {
  const el = $("wa-banner");
  const key = storeFailed ? "banner.storeFailed" : DOWN[link];
  el.hidden = !key;
  el.dataset.state = storeFailed ? "store_failed" : link || "";
  $("wa-banner-text").textContent = key ? t(key) : "";
}

function apply(state) {
  if (state === "store_failed") storeFailed = true;
  else if (state === "store_recovered") storeFailed = false;
  else if (state === "qr") link = "unpaired";
  else if (LINK_STATES.includes(state)) {
    link = state;
    if (state === "connected") storeFailed = false;
  } else return;
  render();
}

/** Follows the link's state on the live socket. */
export function initLinkBanner() {
  live.on("hello", (ev) => { if (ev.whatsapp) apply(ev.whatsapp); });
  live.on("whatsappLink", (ev) => apply(ev.state));
  live.on("whatsappStatus", (ev) => apply(ev.state));
  onLangChange(render);
}
