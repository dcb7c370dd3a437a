// Tiny DOM helpers: elements are built with text nodes only (never innerHTML with data).

/** document.getElementById */
export const $ = (id) => document.getElementById(id);

/**
 * Creates an element. attrs: plain attributes, `on*` listeners, `class`, `dataset`, `text`.
 * Children: nodes, strings (as text) or arrays of them; null/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = tag === "svg" || tag === "use" || tag === "g" || tag === "rect" || tag === "path" ||
    tag === "text" || tag === "line" || tag === "circle" || tag === "polyline" || tag === "title";
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An icon from the sprite. */
export function icon(name) {
  const href = `${document.body.dataset.icons}#${name}`;
  return h("svg", { "aria-hidden": "true" }, h("use", { href }));
}

/** Removes all children. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Shows a short message at the bottom of the screen. */
export function toast(text, isError = false) {
  const t = h("div", { class: isError ? "toast err" : "toast", text });
  $("toasts").append(t);
  setTimeout(() => t.remove(), isError ? 6000 : 3000);
}

/** Initials for an avatar. */
export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return (parts[0]?.[0] || "?") + (parts[1]?.[0] || "");
}

/** Opens a <dialog> modally; resolves with its returnValue when it closes. */
export function openDialog(dlg) {
  return new Promise((resolve) => {
    dlg.returnValue = "";
    dlg.querySelectorAll("[data-close]").forEach((b) => (b.onclick = () => dlg.close("cancel")));
    dlg.addEventListener("close", () => resolve(dlg.returnValue), { once: true });
    dlg.showModal();
  });
}
