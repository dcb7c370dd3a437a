// Small SVG charts (no library): vertical bars, horizontal bars, a line, a 7x24 heat map.
// Each is an <svg role="img"> with a title and a description listing the values.
import { h } from "./dom.js";
import { fmtNum } from "./i18n.js";

function frame(w, hgt, title, desc) {
  return h("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": title, direction: "ltr" },
    h("title", {}, title), desc ? h("desc", {}, desc) : null);
}

const niceMax = (v) => {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return Math.ceil(v / p) * p;
};

/** Vertical bars, one or two series: points [{label, a, b?}]. */
export function bars(points, { title, fmt = (v) => fmtNum(v), legend } = {}) {
  const w = 640, hgt = 240, l = 40, r = 10, top = 16, bot = 36;
  const max = niceMax(Math.max(0, ...points.flatMap((p) => [p.a || 0, p.b || 0])));
  const desc = points.map((p) => `${p.label}: ${fmt(p.a)}${p.b !== undefined ? ` / ${fmt(p.b)}` : ""}`).join("; ");
  const svg = frame(w, hgt, title, desc);
  const ih = hgt - top - bot;
  for (let i = 0; i <= 4; i++) {
    const y = top + ih - (ih * i) / 4;
    svg.append(h("line", { class: "grid", x1: l, x2: w - r, y1: y, y2: y }), h("text", { x: l - 6, y: y + 4, "text-anchor": "end" }, fmt((max * i) / 4)));
  }
  const slot = (w - l - r) / Math.max(1, points.length);
  const two = points.some((p) => p.b !== undefined);
  const bw = Math.max(2, Math.min(28, slot * (two ? 0.38 : 0.7)));
  points.forEach((p, i) => {
    const x0 = l + slot * i + slot / 2;
    const draw = (v, cls, dx) => {
      const bh = (ih * (v || 0)) / max;
      svg.append(h("rect", { class: cls, x: x0 + dx, y: top + ih - bh, width: bw, height: Math.max(0, bh) }, h("title", {}, `${p.label}: ${fmt(v)}`)));
    };
    if (two) { draw(p.a, "bar", -bw - 1); draw(p.b, "bar2", 1); } else draw(p.a, "bar", -bw / 2);
    const every = Math.ceil(points.length / 14);
    if (i % every === 0) svg.append(h("text", { x: x0, y: hgt - bot + 16, "text-anchor": "middle" }, p.label));
  });
  svg.append(h("line", { class: "axis", x1: l, x2: w - r, y1: top + ih, y2: top + ih }));
  if (legend) {
    svg.append(h("rect", { class: "bar", x: l, y: hgt - 12, width: 10, height: 10 }), h("text", { x: l + 14, y: hgt - 3 }, legend[0]));
    if (legend[1]) svg.append(h("rect", { class: "bar2", x: l + 160, y: hgt - 12, width: 10, height: 10 }), h("text", { x: l + 174, y: hgt - 3 }, legend[1]));
  }
  return svg;
}

/** Horizontal bars: [{label, value}] (response times per branch or agent). */
export function hbars(points, { title, fmt = (v) => fmtNum(v) } = {}) {
  const rowH = 26, l = 170, r = 70, w = 640;
  const hgt = Math.max(60, points.length * rowH + 20);
  const max = niceMax(Math.max(0, ...points.map((p) => p.value || 0)));
  const svg = frame(w, hgt, title, points.map((p) => `${p.label}: ${fmt(p.value)}`).join("; "));
  points.forEach((p, i) => {
    const y = 10 + i * rowH;
    const bw = ((w - l - r) * (p.value || 0)) / max;
    svg.append(
      h("text", { x: l - 8, y: y + 15, "text-anchor": "end" }, p.label.length > 26 ? `${p.label.slice(0, 25)}…` : p.label),
      h("rect", { class: "bar", x: l, y: y + 3, width: Math.max(0, bw), height: rowH - 8 }, h("title", {}, `${p.label}: ${fmt(p.value)}`)),
      h("text", { x: l + bw + 6, y: y + 15 }, p.value == null ? "—" : fmt(p.value)));
  });
  return svg;
}

/** A line over points [{label, value|null}] with a fixed or automatic y range. */
export function line(points, { title, min = 0, max, fmt = (v) => fmtNum(v, 1) } = {}) {
  const w = 640, hgt = 220, l = 40, r = 12, top = 14, bot = 30;
  const vals = points.map((p) => p.value).filter((v) => v != null);
  const hi = max ?? niceMax(Math.max(1, ...vals));
  const svg = frame(w, hgt, title, points.map((p) => `${p.label}: ${p.value == null ? "—" : fmt(p.value)}`).join("; "));
  const ih = hgt - top - bot;
  const X = (i) => l + ((w - l - r) * (points.length === 1 ? 0.5 : i / (points.length - 1)));
  const Y = (v) => top + ih - (ih * (v - min)) / (hi - min || 1);
  for (let i = 0; i <= 4; i++) {
    const v = min + ((hi - min) * i) / 4;
    svg.append(h("line", { class: "grid", x1: l, x2: w - r, y1: Y(v), y2: Y(v) }), h("text", { x: l - 6, y: Y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  const pts = points.map((p, i) => (p.value == null ? null : `${X(i)},${Y(p.value)}`)).filter(Boolean);
  if (pts.length) svg.append(h("polyline", { class: "line", points: pts.join(" ") }));
  const every = Math.ceil(points.length / 14);
  points.forEach((p, i) => {
    if (p.value != null) svg.append(h("circle", { class: "dot", cx: X(i), cy: Y(p.value), r: 3.5 }, h("title", {}, `${p.label}: ${fmt(p.value)}`)));
    if (i % every === 0) svg.append(h("text", { x: X(i), y: hgt - 10, "text-anchor": "middle" }, p.label));
  });
  return svg;
}

/** A weekday x hour heat map: grid[7][24] counts, rows labelled by dayNames. */
export function heatmap(grid, dayNames, { title } = {}) {
  const cell = 22, l = 70, top = 20, w = l + 24 * cell + 10, hgt = top + 7 * cell + 10;
  const max = Math.max(1, ...grid.flat());
  const svg = frame(w, hgt, title, dayNames.map((d, i) => `${d}: ${grid[i].reduce((a, b) => a + b, 0)}`).join("; "));
  for (let hr = 0; hr < 24; hr += 3) svg.append(h("text", { x: l + hr * cell + cell / 2, y: top - 6, "text-anchor": "middle" }, String(hr)));
  grid.forEach((row, d) => {
    svg.append(h("text", { x: l - 6, y: top + d * cell + 15, "text-anchor": "end" }, dayNames[d]));
    row.forEach((v, hr) => {
      const lvl = v === 0 ? 0 : Math.min(4, 1 + Math.floor((v / max) * 3.999));
      svg.append(h("rect", { class: `heat${lvl}`, x: l + hr * cell + 1, y: top + d * cell + 1, width: cell - 2, height: cell - 2, rx: 3 },
        h("title", {}, `${dayNames[d]} ${hr}:00 — ${v}`)));
    });
  });
  return svg;
}
