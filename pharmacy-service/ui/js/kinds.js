// How the message kinds beyond text and plain attachments are shown in the chat: round video
// notes, live locations, polls with their votes, contact cards (copy and call), button and
// list answers, view-once and unsupported placeholders, calls, and an edited message's history.
// Every element carries data-kind (the browser tests find each kind by it).
import { h, icon, toast } from "./dom.js";
import { mediaUrl } from "./api.js";
import { t, fmtTime } from "./i18n.js";
import { callLine } from "./format.js";

/** Kinds whose text `kindBody` shows itself (the bubble shows no separate body for them). */
export const OWN_BODY = new Set([
  "contact", "live_location", "poll", "poll_vote", "button_reply", "list_reply",
  "template_reply", "interactive_reply", "view_once", "unsupported", "call",
]);

function mapLink(m, ...children) {
  const q = `${m.latitude},${m.longitude}`;
  return h("a", { class: "loc", href: `https://www.google.com/maps?q=${encodeURIComponent(q)}`, target: "_blank", rel: "noopener noreferrer" },
    icon("pin"), ...children);
}

const coords = (m) => h("span", { dir: "ltr" }, `${Number(m.latitude).toFixed(5)}, ${Number(m.longitude).toFixed(5)}`);

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("contact.copied"));
  } catch {
    toast(t("contact.copyFailed"), true);
  }
}

function contactCard(c) {
  const name = c.display_name || t("kind.contact");
  return h("div", { class: "contact contact-card" },
    h("div", { class: "contact-name", dir: "auto" }, icon("contact"), h("span", {}, name)),
    (c.phones || []).map((p) => h("div", { class: "contact-phone" },
      h("span", { dir: "ltr" }, p),
      h("button", { type: "button", class: "btn ghost", onclick: () => copy(p), "aria-label": t("contact.copy", { n: p }) }, t("contact.copyShort")),
      h("a", { class: "btn ghost", href: `tel:${p.replace(/[^\d+]/g, "")}`, "aria-label": t("contact.call", { n: p }) }, icon("phone"), t("contact.callShort")))));
}

function poll(m) {
  const p = m.poll || { options: [], voters: 0, selectable: 0 };
  const most = Math.max(1, ...p.options.map((o) => o.votes));
  return h("div", { class: "poll" },
    h("div", { class: "poll-question", dir: "auto" }, "📊 ", m.body || ""),
    h("div", { class: "poll-hint" }, p.selectable === 1 ? t("poll.single") : t("poll.multiple")),
    h("ul", { class: "poll-options" }, p.options.map((o) => h("li", {},
      h("span", { class: "poll-option", dir: "auto" }, o.name),
      h("span", { class: "poll-votes", "aria-label": t("poll.votes", { n: o.votes }) }, String(o.votes)),
      h("meter", { class: "poll-bar", min: 0, max: most, value: o.votes, "aria-label": t("poll.share", { name: o.name }) })))),
    h("div", { class: "poll-hint" }, t("poll.voters", { n: p.voters })));
}

const REPLY_LABEL = {
  button_reply: "reply.button", list_reply: "reply.list", template_reply: "reply.template", interactive_reply: "reply.interactive",
};

function reply(m) {
  return h("div", { class: "reply-answer" },
    h("div", { class: "reply-label" }, t(REPLY_LABEL[m.kind])),
    h("div", { class: "reply-text", dir: "auto" }, m.body || ""),
    m.reply_id ? h("div", { class: "reply-id", dir: "ltr" }, t("reply.id", { id: m.reply_id })) : null,
    m.reply_detail ? h("div", { class: "reply-detail", dir: "auto" }, m.reply_detail) : null);
}

/** The name in parentheses of a stored "cannot show yet (…)" line. */
const named = (body) => (/\(([^)]*)\)/.exec(body || "") || [])[1] || "";

function placeholder(kind, text, detail) {
  return h("div", { class: `placeholder ${kind}`, role: "note" },
    h("span", { "aria-hidden": "true" }, { view_once: "①", call: "📞" }[kind] || "⚠"), h("span", {}, text),
    detail ? h("code", { dir: "ltr" }, detail) : null);
}

/** The body of a kind this module shows; null for the others (text and plain attachments). */
export function kindBody(m) {
  switch (m.kind) {
    case "ptv": {
      if (["downloading", "failed", "too_large"].includes(m.media_state)) return null;
      const src = m.media_sha256 ? mediaUrl(m.media_sha256) : null;
      return h("div", { class: "ptv" },
        src ? h("video", { src, controls: true, preload: "metadata", "aria-label": t("kind.ptv") }) : null,
        h("span", { class: "kind-label" }, t("kind.ptv")));
    }
    case "live_location":
      return h("div", { class: "live-location" },
        mapLink(m, h("span", {}, t("kind.live_location")), coords(m)),
        m.body ? h("div", { dir: "auto" }, m.body) : null,
        h("div", { class: "updated" }, t("live.updated", { time: fmtTime(m.location_updated_at || m.created_at) })));
    case "contact":
      if (!m.contacts || !m.contacts.length) return null;
      return h("div", { class: "contacts" }, m.contacts.map(contactCard));
    case "poll":
      return poll(m);
    case "button_reply": case "list_reply": case "template_reply": case "interactive_reply":
      return reply(m);
    case "view_once":
      return placeholder("view_once", t("placeholder.viewOnce"));
    case "unsupported":
      return placeholder("unsupported", t("placeholder.unsupported"), named(m.body));
    case "poll_vote":
      return placeholder("poll_vote", t("placeholder.pollVote"));
    case "call":
      return placeholder("call", callLine(m.body, t));
    default:
      return null;
  }
}

/** The "edited" mark: with the earlier texts to expand when the service kept them. */
export function editedMark(m) {
  if (!m.edited_at) return null;
  if (!m.edits || !m.edits.length) return h("span", {}, t("msg.edited"));
  return h("details", { class: "edits" },
    h("summary", {}, t("msg.edited")),
    h("ol", { "aria-label": t("msg.history") }, m.edits.map((e) => h("li", {},
      h("time", { datetime: new Date(e.at).toISOString() }, fmtTime(e.at)), " ",
      h("span", { dir: "auto" }, e.old_body || "")))));
}

/** The view-once mark of an attachment that reached us. */
export function viewOnceMark(m) {
  return m.view_once ? h("div", { class: "view-once-mark", role: "note" }, "① ", t("msg.viewOnce")) : null;
}
