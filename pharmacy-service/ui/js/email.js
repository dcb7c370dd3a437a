// Settings: e-mail for admin alerts (SMTP). The password is write-only: left empty it stays.
import { h, clear, toast } from "./dom.js";
import { get, post, put } from "./api.js";
import { t } from "./i18n.js";

function field(id, label, input) {
  input.id = id;
  return h("div", { class: "setting" }, h("label", { for: id }, label), input);
}

/** The e-mail section of the settings page (its own card). */
export async function emailSection(box = h("section", { class: "card", id: "email-alerts", "aria-labelledby": "mail-h" })) {
  const s = await get("/api/alerts/email");
  const enabled = h("input", { type: "checkbox", checked: s.enabled });
  const host = h("input", { value: s.host, dir: "ltr", placeholder: "smtp.example.com" });
  const port = h("input", { type: "number", min: "1", max: "65535", value: String(s.port), class: "narrow-wide" });
  const tls = h("select", {}, ["starttls", "tls", "none"].map((m) => h("option", { value: m, selected: s.tls === m }, t(`mail.tls.${m}`))));
  const user = h("input", { value: s.username, dir: "ltr", autocomplete: "off" });
  const pass = h("input", { type: "password", autocomplete: "new-password", placeholder: s.password_set ? t("mail.passwordKept") : "" });
  const from = h("input", { value: s.from, dir: "ltr", placeholder: "alerts@pharmacy.example" });
  const to = h("input", { value: s.to.join(", "), dir: "ltr", placeholder: "admin@pharmacy.example" });
  const body = () => ({
    enabled: enabled.checked, host: host.value.trim(), port: Number(port.value), tls: tls.value, username: user.value.trim(),
    from: from.value.trim(), to: to.value.split(",").map((x) => x.trim()).filter(Boolean),
    ...(pass.value ? { password: pass.value } : {}),
  });
  const form = h("form", { class: "settings-form", onsubmit: async (e) => {
    e.preventDefault();
    try { await put("/api/alerts/email", body()); toast(t("saved")); await emailSection(box); } catch (er) { toast(er.message, true); }
  } },
  h("div", { class: "setting check" }, h("label", { for: "mail-enabled" }, t("mail.enabled")), Object.assign(enabled, { id: "mail-enabled" })),
  field("mail-host", t("mail.host"), host), field("mail-port", t("mail.port"), port), field("mail-tls", t("mail.tls"), tls),
  field("mail-user", t("mail.user"), user), field("mail-pass", t("mail.password"), pass),
  field("mail-from", t("mail.from"), from), field("mail-to", t("mail.to"), to),
  h("p", {},
    h("button", { type: "submit", class: "btn primary" }, t("save")), " ",
    h("button", { type: "button", class: "btn", id: "mail-test", onclick: async () => {
      try { await post("/api/alerts/email/test"); toast(t("mail.sent")); } catch (er) { toast(er.message, true); }
    } }, t("mail.test"))));
  clear(box).append(h("h2", { id: "mail-h" }, t("mail.title")), h("p", { class: "muted small" }, t("mail.hint")), form);
  return box;
}
