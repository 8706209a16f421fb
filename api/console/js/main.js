// The console's shell: language, session, navigation by role, and one view at a time.

import { renderAuditor } from "./auditor.js";
import { fill, h } from "./dom.js";
import { applyTranslations, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { renderKeys } from "./keys.js";
import { renderQueue } from "./queue.js";
import { onSessionChange, forget, role, session } from "./session.js";
import { renderSignIn } from "./signin.js";
import { renderSubject } from "./subject.js";

// Which views each role may open: auditors never reach the subject view (personal data).
const VIEWS = {
  privacy_officer: ["queue", "subject", "keys"],
  admin: ["queue", "keys"],
  auditor: ["auditor", "queue", "keys"],
  other: ["keys"],
};
const NOTICE = "crm.console.notice";
let notice = null;
let lastRoute = { view: "", id: "" };

/** The view and id of a "#/view/id" hash; other fragments (the skip link) keep the view. */
function route() {
  if (location.hash && !location.hash.startsWith("#/")) return lastRoute;
  const [, view = "", id = ""] = location.hash.split("/");
  lastRoute = { view, id };
  return lastRoute;
}

function allowedViews() {
  return session() ? VIEWS[role()] || VIEWS.other : ["signin", "keys"];
}

/** Go to a view; rendering follows the hash change (or happens now if it is unchanged). */
function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function navigation() {
  const nav = document.getElementById("nav");
  const current = route().view;
  fill(nav, allowedViews().map((view) =>
    h("a", { href: `#/${view}`, text: t(`nav.${view}`), class: view === current ? "active" : "", attrs: { "aria-current": view === current ? "page" : null } })));
}

function header() {
  const who = document.getElementById("who");
  const current = session();
  fill(who, current
    ? [h("span", { class: "role", text: t(`role.${current.role}`, {}, current.role) }),
       h("button", { type: "button", text: t("nav.signOut"), dataset: { action: "sign-out" }, on: { click: () => forget() } })]
    : null);
  const switcher = document.getElementById("language");
  switcher.value = language();
}

function secureContextWarning() {
  const banner = document.getElementById("banner");
  const secure = window.isSecureContext && globalThis.crypto?.subtle;
  banner.hidden = Boolean(secure);
  if (!secure) banner.textContent = t("common.insecure");
}

async function render() {
  applyTranslations(document);
  header();
  navigation();
  secureContextWarning();
  const root = document.getElementById("view");
  const { view, id } = route();
  const allowed = allowedViews();
  if (view === "keys") return renderKeys(root);
  if (!session()) return renderSignIn(root, notice);
  notice = null;
  if (!allowed.includes(view)) {
    location.replace(`#/${allowed[0]}`);
    return undefined;
  }
  if (role() === "other") root.append(h("p", { class: "warning", text: t("common.otherRole") }));
  if (view === "queue") return renderQueue(root);
  if (view === "subject") return renderSubject(root, id);
  return renderAuditor(root);
}

/** A notice left by the page before it reloaded (signed out, session expired). */
function pendingNotice() {
  const reason = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  if (reason === "expired") return t("signin.expired");
  return reason === "signed-out" ? t("signin.signedOut") : null;
}

function start() {
  notice = pendingNotice();
  document.getElementById("language").addEventListener("change", (event) => setLanguage(event.target.value));
  onLanguageChange(render);
  onSessionChange((reason) => {
    if (reason === "signed-in") {
      go(`#/${allowedViews()[0]}`);
      return;
    }
    // Signed out or expired: reload, so nothing loaded with the token stays in memory.
    fill(document.getElementById("view"));
    sessionStorage.setItem(NOTICE, reason);
    location.replace("#/signin");
    location.reload();
  });
  window.addEventListener("hashchange", () => {
    if (!location.hash || location.hash.startsWith("#/")) render();
  });
  render();
}

start();
