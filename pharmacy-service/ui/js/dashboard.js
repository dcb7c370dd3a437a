// Admin dashboard: KPI cards with their formulas, and SVG charts (messages per day, response
// times per branch and agent, CSAT trend, conversations by weekday and hour).
import { h, clear, toast } from "./dom.js";
import { get, post, rows, qs } from "./api.js";
import { t, fmtNum, fmtDuration, currentLang, fmtDateTime } from "./i18n.js";
import { bars, hbars, line, heatmap } from "./charts.js";
import { chip } from "./labels.js";

let days = 14;

const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

function range(n) {
  const to = new Date();
  const from = new Date(Date.now() - (n - 1) * 86400000);
  return { from: iso(from), to: iso(to) };
}

function dayList(n) {
  return Array.from({ length: n }, (_, i) => new Date(Date.now() - (n - 1 - i) * 86400000));
}

const avg = (sum, count) => (count ? sum / count : null);

/** The figures of a `KpiTotals` (sums and counts) as the page shows them. */
function totalsOf(o) {
  return {
    received: o.messages_received, sent: o.messages_sent, handled: o.tickets_handled, delays: o.delays,
    frt: avg(o.first_response_ms, o.first_response_count),
    reply: avg(o.reply_ms, o.reply_count),
    resolution: avg(o.resolution_ms, o.resolution_count),
    csat: avg(o.csat_sum, o.csat_count),
    csatCount: o.csat_count,
  };
}

/** The report's `[name, formula]` pairs by name. */
const formulasOf = (report) => Object.fromEntries(report.formulas.map(([k, v]) => [k, v]));

function card(label, value, formula) {
  return h("div", { class: "card kpi" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), formula ? h("div", { class: "formula", dir: "auto" }, formula) : null);
}

/** The daily series: the KPI report of each day. */
function perDay(list) {
  return Promise.all(list.map((d) => get(`/api/analytics/kpi/${qs({ from: iso(d), to: iso(d) })}`).then((r) => ({ date: iso(d), ...totalsOf(r.overall) })).catch(() => ({ date: iso(d) }))));
}

/** Conversations opened in the range by weekday and hour (from the newest tickets). */
async function hourGrid(r) {
  const grid = Array.from({ length: 7 }, () => Array(24).fill(0));
  const all = [];
  for (const status of ["open", "pending", "closed"]) all.push(...rows(await get(`/api/tickets/${qs({ status, limit: 200 })}`).catch(() => null)));
  const fromMs = new Date(`${r.from}T00:00:00`).getTime();
  for (const row of all) {
    const tk = row.ticket;
    if (!tk.created_at || tk.created_at < fromMs) continue;
    const d = new Date(tk.created_at);
    grid[d.getDay()][d.getHours()]++;
  }
  return grid;
}

/** Open alerts and messages held by the mass-send guard, with their actions. */
async function attention(el, redraw) {
  const [alerts, held] = await Promise.all([get("/api/alerts/").catch(() => null), get("/api/outbox/held/").catch(() => null)]);
  const a = rows(alerts);
  const hm = rows(held);
  if (!a.length && !hm.length) return;
  const act = (path) => async () => {
    try { await post(path, {}); toast(t("saved")); redraw(); } catch (e) { toast(e.message, true); }
  };
  const box = h("section", { class: "card attention", "aria-labelledby": "att-h" }, h("h2", { id: "att-h" }, t("dash.attention")));
  if (a.length) {
    box.append(h("ul", { class: "plain" }, a.map((x) => h("li", {},
      h("span", { class: `pill ${x.kind === "temporary_ban" || x.kind === "send_failed" || x.kind === "new_chat_refused" ? "urgent" : "high"}` }, t(`alert.${x.kind}`) === `alert.${x.kind}` ? x.kind : t(`alert.${x.kind}`)),
      " ", h("span", { dir: "auto" }, x.message), " ", h("span", { class: "muted small" }, fmtDateTime(x.at)), " ",
      h("button", { type: "button", class: "btn link", onclick: act(`/api/alerts/${x.id}/acknowledge/`) }, t("dash.acknowledge"))))));
  }
  if (hm.length) {
    box.append(h("h3", {}, t("dash.held", { n: hm.length })), h("ul", { class: "plain" }, hm.map((x) => h("li", {},
      h("a", { href: `#/inbox/${x.ticket_id}` }, `#${x.ticket_id}`), " ", h("span", { dir: "auto" }, (x.body || "").slice(0, 120)), " ",
      h("button", { type: "button", class: "btn", onclick: act(`/api/outbox/${x.id}/confirm/`) }, t("dash.send")), " ",
      h("button", { type: "button", class: "btn danger", onclick: act(`/api/outbox/${x.id}/cancel/`) }, t("cancel"))))));
  }
  el.append(box);
}

/** Draws the dashboard. */
/** Conversations opened in the period per label and branch (`GET /api/analytics/labels`). */
function labelTable(items, bName) {
  return h("section", { id: "label-report" }, h("h2", {}, t("labels.report")),
    items.length
      ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, [t("labels.label"), t("branch"), t("labels.tickets"), t("labels.closed")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, items.map((x) => h("tr", {}, h("td", {}, chip({ id: x.label_id, name: x.name, color: x.color })), h("td", {}, bName(x.branch_id)),
          h("td", {}, fmtNum(x.tickets)), h("td", {}, fmtNum(x.closed))))))
      : h("p", { class: "muted" }, "—"));
}

export async function show(_name, el) {
  const r = range(days);
  const list = dayList(days);
  const sel = h("select", { id: "dash-range", onchange: (e) => { days = Number(e.target.value); show(_name, el); } },
    [7, 14, 30].map((n) => h("option", { value: n, selected: n === days }, t("dash.lastDays", { n }))));
  clear(el).append(h("h1", {}, t("nav.dashboard")),
    h("div", { class: "toolbar" }, h("div", {}, h("label", { for: "dash-range" }, t("dash.period")), sel),
      h("a", { class: "btn", href: `/api/analytics/reports/${qs({ ...r, format: "csv" })}`, download: `khalifa-kpi-${r.from}-${r.to}.csv` }, t("dash.csv"))),
    h("p", { class: "muted", role: "status" }, t("loading")));
  try {
    const [report, dash, series, byLabel] = await Promise.all([get(`/api/analytics/kpi/${qs(r)}`), get("/api/analytics/dashboard/").catch(() => null), perDay(list),
      get(`/api/analytics/labels/${qs(r)}`).catch(() => null)]);
    const tot = totalsOf(report.overall);
    const f = formulasOf(report);
    el.lastChild.remove();
    await attention(el, () => show(_name, el));
    if (dash) {
      el.append(h("h2", {}, t("dash.now")), h("div", { class: "cards" },
        card(t("dash.open"), fmtNum(dash.open)), card(t("dash.unassigned"), fmtNum(dash.unassigned)),
        card(t("dash.pending"), fmtNum(dash.pending)), card(t("dash.closedToday"), fmtNum(dash.today.tickets_handled)),
        card(t("dash.receivedToday"), fmtNum(dash.today.messages_received)), card(t("dash.sentToday"), fmtNum(dash.today.messages_sent)),
        card(t("dash.online"), fmtNum(dash.agents_online)), card(t("dash.outbox"), fmtNum(dash.outbox_depth))));
      el.append(h("h2", {}, t("dash.period") + ": " + t("dash.lastDays", { n: days })));
    }
    el.append(h("div", { class: "cards" },
      card(t("kpi.received"), fmtNum(tot.received), f.messages_received),
      card(t("kpi.sent"), fmtNum(tot.sent), f.messages_sent),
      card(t("kpi.handled"), fmtNum(tot.handled), f.tickets_handled),
      card(t("kpi.frt"), fmtDuration(tot.frt), f.first_response_time),
      card(t("kpi.reply"), fmtDuration(tot.reply), f.reply_time),
      card(t("kpi.resolution"), fmtDuration(tot.resolution), f.resolution_time),
      card(t("kpi.csat"), tot.csat != null ? h("span", { dir: "ltr" }, `${fmtNum(tot.csat, 2)} / 5`) : "—", f.csat_average),
      card(t("kpi.delays"), fmtNum(tot.delays), f.delays)));
    const dayLabel = (d) => { const x = new Date(`${d}T12:00:00`); return `${x.getDate()}/${x.getMonth() + 1}`; };
    const agents = report.agents;
    const branches = new Map();
    const branchRows = rows(await get("/api/branches/").catch(() => null));
    for (const a of agents) {
      const b = branches.get(a.branch_id) || { ms: 0, n: 0 };
      b.ms += a.totals.first_response_ms;
      b.n += a.totals.first_response_count;
      branches.set(a.branch_id, b);
    }
    const bName = (id) => { const b = branchRows.find((x) => x.id === id); return b ? (currentLang() === "ar" ? b.name_ar : b.name).replace(/^.*[–-]\s*/, "") : t("branch.none"); };
    const mins = (ms) => (ms == null ? null : ms / 60000);
    const fmtMin = (v) => (v == null ? "—" : t("dur.m", { n: fmtNum(v, 1) }));
    const names = currentLang() === "ar" ? ["الأحد", "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"] : ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const grid = await hourGrid(r);
    el.append(h("div", { class: "grid2" },
      h("section", { class: "card chart" }, h("h2", {}, t("dash.messagesPerDay")),
        bars(series.map((d) => ({ label: dayLabel(d.date), a: d.received || 0, b: d.sent || 0 })), { title: t("dash.messagesPerDay"), legend: [t("kpi.received"), t("kpi.sent")] })),
      h("section", { class: "card chart" }, h("h2", {}, t("dash.csatTrend")),
        line(series.map((d) => ({ label: dayLabel(d.date), value: d.csat ?? null })), { title: t("dash.csatTrend"), min: 1, max: 5 })),
      h("section", { class: "card chart" }, h("h2", {}, t("dash.frtBranch")),
        hbars([...branches.entries()].map(([id, b]) => ({ label: bName(id), value: mins(avg(b.ms, b.n)) })), { title: t("dash.frtBranch"), fmt: fmtMin })),
      h("section", { class: "card chart" }, h("h2", {}, t("dash.frtAgent")),
        hbars(agents.map((a) => ({ label: a.name, value: mins(a.avg_first_response_s != null ? a.avg_first_response_s * 1000 : null) })), { title: t("dash.frtAgent"), fmt: fmtMin })),
      h("section", { class: "card chart" }, h("h2", {}, t("dash.heatmap")), heatmap(grid, names, { title: t("dash.heatmap") }))));
    el.append(h("h2", {}, t("dash.agents")),
      h("table", { class: "data" },
        h("thead", {}, h("tr", {}, [t("agent"), t("branch"), t("kpi.received"), t("kpi.sent"), t("kpi.handled"), t("kpi.frt"), t("kpi.reply"), t("kpi.csat"), t("kpi.delays")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, agents.map((a) => {
          const x = totalsOf(a.totals);
          return h("tr", {}, h("td", { dir: "auto" }, a.name), h("td", {}, bName(a.branch_id)), h("td", {}, fmtNum(x.received)), h("td", {}, fmtNum(x.sent)),
            h("td", {}, fmtNum(x.handled)), h("td", {}, fmtDuration(x.frt)), h("td", {}, fmtDuration(x.reply)),
            h("td", {}, x.csat != null ? fmtNum(x.csat, 2) : "—"), h("td", {}, fmtNum(x.delays)));
        }))));
    if (byLabel) el.append(labelTable(byLabel.items, bName));
    el.append(h("h2", {}, t("dash.formulas")), h("dl", { class: "formula-list" }, Object.entries(f).map(([k, v]) => [h("dt", {}, t(`formula.${k}`)), h("dd", { dir: "ltr" }, v)])));
  } catch (e) {
    toast(e.message, true);
  }
}
