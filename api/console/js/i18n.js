// Every string the console shows, in English and Bahasa Indonesia. The language follows
// navigator.language until the user picks one; times are shown in the viewer's zone.

import { en } from "./strings-en.js";
import { id } from "./strings-id.js";

export const DICTIONARIES = { en, id };
const KEY = "crm.console.language";
const listeners = new Set();
let current = initial();

function initial() {
  const chosen = sessionStorage.getItem(KEY);
  if (chosen && DICTIONARIES[chosen]) return chosen;
  const browser = (navigator.language || "en").toLowerCase();
  return browser.startsWith("id") || browser.startsWith("in") ? "id" : "en";
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!DICTIONARIES[lang] || lang === current) return;
  current = lang;
  sessionStorage.setItem(KEY, lang);
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** The string for `key`, with {name} placeholders filled from `vars`; `fallback` (or the
 * key itself) when the dictionary has none (codes the server adds later, for instance). */
export function t(key, vars = {}, fallback) {
  const text = DICTIONARIES[current][key] ?? DICTIONARIES.en[key] ?? fallback ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Fill every [data-i18n] element's text (and [data-i18n-label]'s aria-label) of `root`. */
export function applyTranslations(root) {
  document.documentElement.lang = current;
  document.title = t("app.title");
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
}

const LOCALES = { en: "en-GB", id: "id-ID" };

/** A date and time in the viewer's own zone, named. */
export function formatTime(date) {
  return new Intl.DateTimeFormat(LOCALES[current], {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  }).format(date);
}
