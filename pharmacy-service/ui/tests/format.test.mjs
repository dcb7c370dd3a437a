// `node --test pharmacy-service/ui/tests/format.test.mjs`: ui/js/format.js against a tiny fake DOM.
// The formatter must stay linear (issue 18, High 5: a 65 k-character customer message froze an
// agent's tab) and render what the regular expressions it replaced rendered.
import { test } from "node:test";
import assert from "node:assert/strict";

class FakeNode {}
class FakeText extends FakeNode {
  constructor(text) { super(); this.text = String(text); }
}
class FakeElement extends FakeNode {
  constructor(tag) { super(); this.tag = tag; this.attrs = []; this.children = []; this.dataset = {}; }
  setAttribute(k, v) { this.attrs.push([k, v]); }
  addEventListener() {}
  append(c) { this.children.push(c); }
  set textContent(v) { this.children = [new FakeText(v)]; }
}
globalThis.Node = FakeNode;
globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  createElementNS: (_ns, tag) => new FakeElement(tag),
  createTextNode: (text) => new FakeText(text),
};
const { formatWhatsApp, contactName, previewText, callLine } = await import("../js/format.js");
const { h } = await import("../js/dom.js");

const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** HTML-like text of what was built (adjacent text nodes read as one, as in the page). */
function html(nodes) {
  return nodes.map((n) => {
    if (typeof n === "string") return esc(n);
    if (n instanceof FakeText) return esc(n.text);
    const attrs = n.attrs.map(([k, v]) => ` ${k}="${esc(v)}"`).join("");
    return `<${n.tag}${attrs}>${html(n.children)}</${n.tag}>`;
  }).join("");
}
const fmt = (s) => html(formatWhatsApp(s));

// The formatter as it was before it was made linear: the reference for ordinary text.
const MARKS = { "*": "strong", _: "em", "~": "s", "`": "code" };
const INLINE = /(^|[\s([{"'«،؛.,!?-])([*_~`])(?=\S)([^\n]*?\S)\2(?=$|[\s)\]}"'».,!?:;،؛-])/u;
const URL = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/iu;
function oldInline(text, out) {
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
    else oldInline(m[3], inner);
    out.push(h(MARKS[m[2]], {}, inner));
    text = text.slice(m.index + m[0].length);
  }
  return out;
}
function oldFormat(text) {
  const out = [];
  const parts = String(text ?? "").split("```");
  parts.forEach((p, i) => {
    if (i % 2 === 1 && i < parts.length - 1) out.push(h("code", { class: "mono" }, p));
    else oldInline(i % 2 === 1 ? "```" + p : p, out);
  });
  return html(out);
}

const link = (u) => `<a href="${u}" target="_blank" rel="noopener noreferrer" dir="ltr">${u}</a>`;

test("formats what agents see every day", () => {
  assert.equal(fmt("عايز *Panadol Extra* لو سمحت"), "عايز <strong>Panadol Extra</strong> لو سمحت");
  assert.equal(fmt("_a_ ~b~ `c *d*`"), "<em>a</em> <s>b</s> <code>c *d*</code>");
  assert.equal(fmt("*bold _and italic_*"), "<strong>bold <em>and italic</em></strong>");
  assert.equal(fmt("```x *y*``` z"), '<code class="mono">x *y*</code> z');
  assert.equal(fmt("``` open"), "<code>`</code> open");
  assert.equal(fmt("see https://example.com/a?b=1."), `see ${link("https://example.com/a?b=1")}.`);
  assert.equal(fmt("*map http://x.eg/p*"), `<strong>map ${link("http://x.eg/p")}</strong>`);
  assert.equal(fmt("2*3*4 and a*b"), "2*3*4 and a*b");
  assert.equal(fmt("*two\nlines*"), "*two\nlines*");
  assert.equal(fmt("، *مرحبا*؛"), "، <strong>مرحبا</strong>؛");
  assert.equal(fmt("<b>not html</b>"), "&lt;b&gt;not html&lt;/b&gt;");
  assert.equal(fmt(null), "");
});

test("renders as the regular expressions did", () => {
  // A fixed pseudo-random corpus of short texts made of markers, spaces, punctuation and links.
  const pieces = ["*", "_", "~", "`", "```", " ", "\n", "a", "bc", "h", "http://", "https://x.eg/", "HTTP://A",
    ".", ",", "(", ")", "[", "]", "-", ":", "،", "«", "»", "'", '"', "<", "دواء", "_x", "x_", "ftp"];
  let seed = 18;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let n = 0; n < 10000; n++) {
    let s = "";
    const len = 1 + Math.floor(next() * 16);
    for (let k = 0; k < len; k++) s += pieces[Math.floor(next() * pieces.length)];
    assert.equal(fmt(s), oldFormat(s), JSON.stringify(s));
  }
});

test("formats adversarial 65 k-character texts in linear time", () => {
  const inputs = {
    "' *x' x 21,845": " *x".repeat(21845),
    "'*a ' x 21,845": "*a ".repeat(21845),
    "'http://.' x 8,192": "http://.".repeat(8192),
    "'(*a*)' x 13,107": "(*a*)".repeat(13107),
    "'*' x 65,535": "*".repeat(65535),
    "'_a' x 32,767": "_a".repeat(32767),
  };
  for (const [name, s] of Object.entries(inputs)) {
    const t0 = performance.now();
    const out = formatWhatsApp(s);
    const ms = performance.now() - t0;
    assert.ok(ms < 10000, `${name}: ${ms} ms`);
    assert.equal(html(out).length >= s.length, true, name);
  }
  assert.equal(fmt("http://.".repeat(8192)), link("http://.".repeat(8192).slice(0, -1)) + ".");
  const t0 = performance.now();
  assert.equal(contactName("\nFN".repeat(21845)), "\nFN".repeat(21845));
  assert.ok(performance.now() - t0 < 10000, "contactName");
  assert.equal(contactName("BEGIN:VCARD\nFN;CHARSET=UTF-8:منى علي\nEND:VCARD"), "منى علي");
});

test("the kinds beyond text and attachments have their own preview label", () => {
  const t = (k) => `<${k}>`;
  assert.equal(previewText({ kind: "poll", body: "Delivery?" }, t), "📊 <kind.poll> · Delivery?");
  assert.equal(previewText({ kind: "ptv" }, t), "🎥 <kind.ptv>");
  assert.equal(previewText({ kind: "list_reply", body: "Maadi" }, t), "↩ <kind.reply> · Maadi");
  assert.equal(previewText({ kind: "view_once", body: "x" }, t), "① <kind.view_once>");
  assert.equal(previewText({ kind: "call", body: "missed video" }, t), "📞 <call.missed.video>");
});

test("a call's line is a sentence in the UI's language, its stored words when unknown", () => {
  const known = (k) => ({ "call.auto_rejected.voice": "rejected at once" })[k] ?? k;
  assert.equal(callLine("auto_rejected voice", known), "rejected at once");
  assert.equal(callLine("[Missed voice call]", known), "[Missed voice call]");
  assert.equal(callLine(null, known), "kind.call");
});
