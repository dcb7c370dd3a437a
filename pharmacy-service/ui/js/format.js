// WhatsApp text formatting (*bold* _italic_ ~strike~ ```mono``` `code`) and links, built as
// DOM nodes so no customer text is ever parsed as HTML.
//
// One pass over the text, linear in its length (issue 18, High 5: the regular expressions this
// replaces rescanned the rest of the text at every marker and froze an agent's tab for seconds
// on a 65 k-character message). Tables built once per text answer "where does this marker's
// closing partner sit" and "where does a link starting here end" in constant time.
import { h } from "./dom.js";

const MARKS = { "*": "strong", _: "em", "~": "s", "`": "code" };
const MARKERS = "*_~`";
// A marker opens after start/space/punctuation, closes before end/space/punctuation; what it
// wraps starts and ends with a non-space and stays on one line. A link: http(s):// at a word
// boundary, up to the next space, <, >, " or ', not ending in punctuation.
const CLASSES = [
  /\s/u, // SPACE
  /[\s([{"'«،؛.,!?-]/u, // OPEN_AFTER
  /[\s)\]}"'».,!?:;،؛-]/u, // CLOSE_BEFORE
  /\w/u, // WORD
  /[\s<>"']/u, // NOT_IN_LINK
  /[.,;:!?)\]]/u, // NOT_LAST_IN_LINK
];
const [SPACE, OPEN_AFTER, CLOSE_BEFORE, WORD, NOT_IN_LINK, NOT_LAST_IN_LINK] = [1, 2, 4, 8, 16, 32];
const SCHEME = /^https?:\/\//i;
// Formatting nested deeper than this (never seen in a real message) is shown as typed: it
// bounds the recursion.
const MAX_DEPTH = 16;

// Character classes as bits, by UTF-16 code unit (every character the rules name is one unit).
const classCache = new Map();
function classOf(code) {
  let bits = classCache.get(code);
  if (bits === undefined) {
    const ch = String.fromCharCode(code);
    bits = CLASSES.reduce((b, re, k) => (re.test(ch) ? b | (1 << k) : b), 0);
    classCache.set(code, bits);
  }
  return bits;
}

/** The lookup tables of one text. */
function tables(s) {
  const n = s.length;
  const cls = new Uint8Array(n + 1);
  for (let i = 0; i < n; i++) cls[i] = classOf(s.charCodeAt(i));
  // closer[k][i]: the first position >= i where MARKERS[k] may close (the text's end counting
  // as the end; a shorter range checks its own last position itself).
  const closer = [...MARKERS].map(() => new Int32Array(n + 3).fill(n));
  const nextNewline = new Int32Array(n + 1).fill(n);
  const runEnd = new Int32Array(n + 1).fill(n);
  for (let i = n - 1; i >= 0; i--) {
    nextNewline[i] = s.charCodeAt(i) === 10 ? i : nextNewline[i + 1];
    runEnd[i] = cls[i] & NOT_IN_LINK ? i : runEnd[i + 1];
    const k = MARKERS.indexOf(s[i]);
    for (let j = 0; j < closer.length; j++) closer[j][i] = closer[j][i + 1];
    if (k >= 0 && i > 0 && !(cls[i - 1] & SPACE) && (i + 1 === n || cls[i + 1] & CLOSE_BEFORE)) closer[k][i] = i;
  }
  // lastLinkEnd[x]: the last position before x a link may end on.
  const lastLinkEnd = new Int32Array(n + 1).fill(-1);
  for (let x = 0; x < n; x++) lastLinkEnd[x + 1] = cls[x] & (NOT_IN_LINK | NOT_LAST_IN_LINK) ? lastLinkEnd[x] : x;
  return { s, cls, closer, nextNewline, runEnd, lastLinkEnd };
}

/** The end of a link starting at `i`, or -1. `from` is where unformatted text starts (a
 *  boundary, as the start of the text), `end` the end of the range being formatted. */
function linkAt(t, i, from, end) {
  const c = t.s.charCodeAt(i);
  if ((c !== 104 && c !== 72) || (i > from && t.cls[i - 1] & WORD)) return -1;
  const scheme = SCHEME.exec(t.s.slice(i, Math.min(i + 8, end)));
  if (!scheme) return -1;
  const last = t.lastLinkEnd[Math.min(t.runEnd[i], end)];
  return last >= i + scheme[0].length + 1 ? last + 1 : -1;
}

/** The position of the marker closing one that opens at `p`, or -1. */
function closingAt(t, p, from, end) {
  const { s, cls } = t;
  const k = MARKERS.indexOf(s[p]);
  if (k < 0 || p + 2 >= end || cls[p + 1] & SPACE) return -1;
  if (p > from && !(cls[p - 1] & OPEN_AFTER)) return -1;
  let q = t.closer[k][p + 2];
  if (q >= end - 1) q = s[end - 1] === s[p] && !(cls[end - 2] & SPACE) ? end - 1 : -1;
  return q >= 0 && t.nextNewline[p + 1] >= q ? q : -1;
}

/** Formats `t.s[start..end)` into `out`: text, links and marked spans in order. */
function inline(t, start, end, out, depth) {
  const s = t.s;
  let from = start;
  const text = (to) => {
    if (to > from) out.push(s.slice(from, to));
  };
  for (let i = start; i < end; i++) {
    const link = linkAt(t, i, from, end);
    if (link >= 0) {
      text(i);
      const href = s.slice(i, link);
      out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer", dir: "ltr" }, href));
      from = link;
      i = link - 1;
      continue;
    }
    const q = closingAt(t, i, from, end);
    if (q < 0) continue;
    text(i);
    const inner = [];
    if (s[i] === "`" || depth >= MAX_DEPTH) inner.push(s.slice(i + 1, q));
    else inline(t, i + 1, q, inner, depth + 1);
    out.push(h(MARKS[s[i]], {}, inner));
    from = q + 1;
    i = q;
  }
  text(end);
  return out;
}

/** Formats WhatsApp text into nodes. */
export function formatWhatsApp(text) {
  const out = [];
  const parts = String(text ?? "").split("```");
  parts.forEach((p, i) => {
    // Odd segments were between triple backticks (an unclosed trailing one stays literal).
    if (i % 2 === 1 && i < parts.length - 1) out.push(h("code", { class: "mono" }, p));
    else {
      const s = i % 2 === 1 ? "```" + p : p;
      inline(tables(s), 0, s.length, out, 0);
    }
  });
  return out;
}

/** The sentence for a call's line, whose body is "<outcome> <voice|video>" (the stored words
 *  themselves when they are not that). */
export function callLine(body, t) {
  const [outcome, medium] = String(body || "").split(" ");
  const key = `call.${outcome}.${medium}`;
  const s = t(key);
  return s === key ? String(body || t("kind.call")) : s;
}

/** Plain preview text of a message for lists and quotes. */
export function previewText(m, t) {
  if (!m) return "";
  if (m.revoked_at) return t("msg.deleted");
  if (m.kind === "call") return "📞 " + callLine(m.body, t);
  const body = (m.kind === "contact" ? contactName(m.body) : m.body || "").replace(/\s+/g, " ").trim();
  const label = kindLabel(m, t) || {
    image: "📷 " + t("kind.image"), audio: "🎤 " + t("kind.audio"), video: "🎬 " + t("kind.video"),
    document: "📄 " + (m.media_name || t("kind.document")), sticker: "🏷️ " + t("kind.sticker"),
    location: "📍 " + t("kind.location"), contact: "👤 " + t("kind.contact"), rating: "⭐ " + t("kind.rating"),
  }[m.kind];
  // A placeholder's stored text only repeats its label.
  if (["view_once", "unsupported", "poll_vote"].includes(m.kind)) return label;
  if (label && body) return `${label} · ${body}`;
  return label || body;
}

/** Preview labels of the kinds beyond text and plain attachments. */
function kindLabel(m, t) {
  const reply = "↩ " + t("kind.reply");
  return {
    ptv: "🎥 " + t("kind.ptv"), live_location: "📍 " + t("kind.live_location"), poll: "📊 " + t("kind.poll"),
    poll_vote: "📊 " + t("kind.poll_vote"), button_reply: reply, list_reply: reply, template_reply: reply,
    interactive_reply: reply, view_once: "① " + t("kind.view_once"), unsupported: "⚠ " + t("kind.unsupported"),
  }[m.kind];
}

/** The display name in a vCard (its FN line), else the text itself. */
export function contactName(body) {
  // The FN line's parameters end at its colon on the same line (a [^:]* crossing lines
  // rescanned the rest of a crafted card at every line: quadratic).
  const fn = /(?:^|\n)FN[^:\n]*:(.+)/.exec(body || "");
  return fn ? fn[1].trim() : body || "";
}

/** Fills {variables} of a template from a context; unknown ones stay for the agent to edit. */
export function fillTemplate(body, vars) {
  return String(body || "").replace(/\{(\w+)\}/g, (all, k) => (vars[k] !== undefined && vars[k] !== null && vars[k] !== "" ? String(vars[k]) : all));
}
