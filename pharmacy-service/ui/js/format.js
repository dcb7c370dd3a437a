// WhatsApp text formatting (*bold* _italic_ ~strike~ ```mono``` `code`) and links, built as
// DOM nodes so no customer text is ever parsed as HTML.
import { h } from "./dom.js";

const MARKS = { "*": "strong", _: "em", "~": "s", "`": "code" };
// A marker opens after start/space/punctuation, closes before end/space/punctuation.
const INLINE = /(^|[\s([{"'«،؛.,!?-])([*_~`])(?=\S)([^\n]*?\S)\2(?=$|[\s)\]}"'».,!?:;،؛-])/u;
const URL = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/iu;

function inline(text, out) {
  while (text) {
    const m = INLINE.exec(text);
    const u = URL.exec(text);
    if (u && (!m || u.index < m.index + m[1].length)) {
      out.push(text.slice(0, u.index));
      out.push(h("a", { href: u[0], target: "_blank", rel: "noopener noreferrer", dir: "ltr" }, u[0]));
      text = text.slice(u.index + u[0].length);
      continue;
    }
    if (!m) { out.push(text); break; }
    out.push(text.slice(0, m.index) + m[1]);
    const inner = [];
    if (m[2] === "`") inner.push(m[3]);
    else inline(m[3], inner);
    out.push(h(MARKS[m[2]], {}, inner));
    text = text.slice(m.index + m[0].length);
  }
  return out;
}

/** Formats WhatsApp text into nodes. */
export function formatWhatsApp(text) {
  const out = [];
  const parts = String(text ?? "").split("```");
  parts.forEach((p, i) => {
    // Odd segments were between triple backticks (an unclosed trailing one stays literal).
    if (i % 2 === 1 && i < parts.length - 1) out.push(h("code", { class: "mono" }, p));
    else inline(i % 2 === 1 ? "```" + p : p, out);
  });
  return out;
}

/** Plain preview text of a message for lists and quotes. */
export function previewText(m, t) {
  if (!m) return "";
  if (m.revoked_at) return t("msg.deleted");
  const body = (m.kind === "contact" ? contactName(m.body) : m.body || "").replace(/\s+/g, " ").trim();
  const label = {
    image: "📷 " + t("kind.image"), audio: "🎤 " + t("kind.audio"), video: "🎬 " + t("kind.video"),
    document: "📄 " + (m.media_name || t("kind.document")), sticker: "🏷️ " + t("kind.sticker"),
    location: "📍 " + t("kind.location"), contact: "👤 " + t("kind.contact"), rating: "⭐ " + t("kind.rating"),
  }[m.kind];
  if (label && body) return `${label} · ${body}`;
  return label || body;
}

/** The display name in a vCard (its FN line), else the text itself. */
export function contactName(body) {
  const fn = /(?:^|\n)FN[^:]*:(.+)/.exec(body || "");
  return fn ? fn[1].trim() : body || "";
}

/** Fills {variables} of a template from a context; unknown ones stay for the agent to edit. */
export function fillTemplate(body, vars) {
  return String(body || "").replace(/\{(\w+)\}/g, (all, k) => (vars[k] !== undefined && vars[k] !== null && vars[k] !== "" ? String(vars[k]) : all));
}
