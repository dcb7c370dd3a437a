// Arabic (default, right-to-left) and English. The choice is kept per browser.
import ar from "./i18n/ar.js";
import en from "./i18n/en.js";

const TABLES = { ar, en };
let lang = localStorage.getItem("lang") === "en" ? "en" : "ar";
const listeners = [];

/** The current language code. */
export const currentLang = () => lang;

/** BCP 47 locale for dates and numbers (Latin digits: phone numbers and prices read alike). */
export const locale = () => (lang === "ar" ? "ar-EG-u-nu-latn" : "en-GB");

/** Translates a key, filling {name} placeholders. Missing keys fall back to English, then the key. */
export function t(key, vars = {}) {
  const s = TABLES[lang][key] ?? TABLES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
}

/** Translates the static page: data-i18n (text), -label, -placeholder, -title. */
export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
  root.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
  root.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder)));
  root.querySelectorAll("[data-i18n-title]").forEach((el) => el.setAttribute("title", t(el.dataset.i18nTitle)));
  // The language switch names the other language in that language.
  root.querySelectorAll(".lang-toggle").forEach((el) => el.setAttribute("lang", lang === "ar" ? "en" : "ar"));
}

/** Switches language and re-renders whoever listens. */
export function setLang(l) {
  lang = l === "en" ? "en" : "ar";
  localStorage.setItem("lang", lang);
  applyI18n();
  listeners.forEach((f) => f(lang));
}

/** Calls f after every language switch. */
export const onLangChange = (f) => listeners.push(f);

/** Time of day (14:05). */
export const fmtTime = (ms) => new Date(ms).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });

/** A day label: today, yesterday, or the date. */
export function fmtDay(ms) {
  const d = new Date(ms);
  const today = new Date();
  const y = new Date(Date.now() - 86400000);
  if (d.toDateString() === today.toDateString()) return t("day.today");
  if (d.toDateString() === y.toDateString()) return t("day.yesterday");
  return d.toLocaleDateString(locale(), { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

/** Short time for lists: time today, weekday this week, else the date. */
export function fmtShort(ms) {
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return fmtTime(ms);
  if (now - d < 6 * 86400000) return d.toLocaleDateString(locale(), { weekday: "short" });
  return d.toLocaleDateString(locale(), { day: "numeric", month: "short" });
}

/** Date and time. */
export const fmtDateTime = (ms) => new Date(ms).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });

/** A number. */
export const fmtNum = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? "—" : Number(n).toLocaleString(locale(), { maximumFractionDigits: digits });

/** A duration in ms as "3m 20s" / "٣ د". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return t("dur.s", { n: fmtNum(s) });
  const m = Math.round(s / 60);
  if (m < 90) return t("dur.m", { n: fmtNum(m) });
  return t("dur.h", { n: fmtNum(m / 60, 1) });
}
