// Settings: outbound webhooks (the pharmacy's other systems) and each one's delivery log.
import { h, clear, toast } from "./dom.js";
import { get, post, patch, del } from "./api.js";
import { t, fmtDateTime } from "./i18n.js";

async function deliveries(hook, box) {
  const d = await get(`/api/webhooks/${hook.id}/deliveries?limit=20`);
  clear(box).append(d.items.length
    ? h("table", { class: "data" },
      h("thead", {}, h("tr", {}, ["wh.when", "wh.event", "wh.status", "wh.attempts", "wh.answer"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, d.items.map((x) => h("tr", { "data-status": x.status },
        h("td", {}, fmtDateTime(x.created_at)), h("td", { dir: "ltr" }, x.event), h("td", {}, t(`wh.st.${x.status}`)),
        h("td", {}, String(x.attempts)), h("td", { dir: "ltr" }, x.last_error || (x.last_status ? `HTTP ${x.last_status}` : "—"))))))
    : h("p", { class: "muted" }, t("wh.noDeliveries")));
}

function row(hook, redraw) {
  const log = h("div", { class: "wh-log" });
  const state = hook.enabled ? t("wh.enabled") : hook.disabled_reason ? `${t("wh.disabled")}: ${hook.disabled_reason}` : t("wh.disabled");
  return h("li", { class: "wh-item", "data-id": hook.id },
    h("p", {}, h("strong", { dir: "ltr" }, hook.url), " · ", h("span", { class: hook.enabled ? "" : "error" }, state)),
    h("p", { class: "muted small" }, hook.events.length ? hook.events.join(", ") : t("wh.allEvents")),
    h("p", {},
      h("button", { type: "button", class: "btn", onclick: async () => {
        try { await patch(`/api/webhooks/${hook.id}`, { enabled: !hook.enabled }); redraw(); } catch (e) { toast(e.message, true); }
      } }, t(hook.enabled ? "wh.disable" : "wh.enable")),
      h("button", { type: "button", class: "btn", onclick: () => deliveries(hook, log).catch((e) => toast(e.message, true)) }, t("wh.log")),
      h("button", { type: "button", class: "btn danger", onclick: async () => {
        if (!confirm(t("wh.confirmDelete"))) return;
        try { await del(`/api/webhooks/${hook.id}`); redraw(); } catch (e) { toast(e.message, true); }
      } }, t("wh.delete"))),
    log);
}

/** The webhooks section of the settings page (its own card, drawn into `box`). */
export async function webhooksSection(box = h("section", { class: "card", id: "webhooks", "aria-labelledby": "wh-h" })) {
  const redraw = () => webhooksSection(box).catch((e) => toast(e.message, true));
  const data = await get("/api/webhooks");
  const url = h("input", { id: "wh-url", type: "url", dir: "ltr", required: true, placeholder: "https://erp.example/hooks/whatsapp" });
  const boxes = data.events.map((e) => h("label", { class: "check" }, h("input", { type: "checkbox", value: e, "data-event": e }), ` ${e}`));
  const secret = h("output", { id: "wh-secret", class: "wh-secret", dir: "ltr" });
  const form = h("form", { class: "wh-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    try {
      const r = await post("/api/webhooks", { url: url.value.trim(), events });
      await redraw();
      box.querySelector("#wh-secret").textContent = `${t("wh.secret")} ${r.secret}`;
    } catch (e) { toast(e.message, true); }
  } },
  h("label", { for: "wh-url" }, t("wh.url")), url,
  h("fieldset", {}, h("legend", {}, t("wh.events")), boxes),
  h("p", {}, h("button", { type: "submit", class: "btn primary" }, t("wh.add"))), secret);
  clear(box).append(h("h2", { id: "wh-h" }, t("wh.title")), h("p", { class: "muted small" }, t("wh.hint")),
    h("ul", { class: "wh-list" }, data.items.map((x) => row(x, redraw))), form);
  return box;
}
