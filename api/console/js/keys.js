// Pinned keys: the ledger and certificate public keys this user decided to trust, kept in
// this tab's sessionStorage (public keys only). Verification uses them and nothing else.

import { api } from "./api.js";
import { actionButton, code, errorBox, fill, h, section } from "./dom.js";
import { t } from "./i18n.js";
import { fingerprint, groupFingerprint, keyToBase64, parsePublicKey } from "./signatures.js";

const KEY = "crm.console.pins";
export const KINDS = ["ledger", "certificates"];

function stored() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "{}") || {};
  } catch {
    return {};
  }
}

/** The pinned key of `kind` as {raw, publicKey, fingerprint, source}, or null. */
export function pinned(kind) {
  const entry = stored()[kind];
  if (!entry) return null;
  try {
    return { ...entry, raw: parsePublicKey(entry.publicKey) };
  } catch {
    return null;
  }
}

/** Pin a key (base64); throws MalformedKey for anything but 32 bytes of base64. */
export async function pin(kind, text, source) {
  const raw = parsePublicKey(text);
  const entry = { publicKey: keyToBase64(raw), fingerprint: await fingerprint(raw), source };
  sessionStorage.setItem(KEY, JSON.stringify({ ...stored(), [kind]: entry }));
  return entry;
}

export function unpin(kind) {
  const all = stored();
  delete all[kind];
  sessionStorage.setItem(KEY, JSON.stringify(all));
}

/** A short line naming the pinned key by fingerprint, for every verdict. */
export function pinnedLabel(kind) {
  const key = pinned(kind);
  if (!key) return h("p", { class: "warning", text: t("keys.notPinned", { kind: t(`keys.kind.${kind}`) }) });
  return h(
    "p",
    { class: "pinned-line" },
    t("keys.verifiedWith", { kind: t(`keys.kind.${kind}`) }),
    " ",
    h("span", { class: "mono fingerprint", text: groupFingerprint(key.fingerprint) }),
  );
}

export function renderKeys(root) {
  const published = h("div", { dataset: { state: "busy" }, attrs: { id: "published-keys" } }, t("common.loading"));
  fill(
    root,
    h("h1", { text: t("keys.title") }),
    h("p", { class: "lead", text: t("keys.lead") }),
    h("p", { class: "warning", text: t("keys.outOfBand") }),
    published,
    KINDS.map((kind) => pinnedCard(kind)),
  );
  loadPublished(published);
}

async function loadPublished(target) {
  try {
    const { body } = await api("/v1/keys", { auth: false });
    fill(target, KINDS.map((kind) => publishedCard(kind, body[kind])));
    target.dataset.state = "done";
  } catch (error) {
    fill(target, errorBox(error));
    target.dataset.state = "error";
  }
}

function publishedCard(kind, key) {
  const pinButton = actionButton(t("keys.pinThis"), async () => {
    await pin(kind, key.public_key, "server");
    renderKeys(document.getElementById("view"));
  }, { dataset: { pin: kind } });
  const current = pinned(kind);
  const same = current && current.fingerprint === key.fingerprint;
  return section(
    t("keys.published", { kind: t(`keys.kind.${kind}`) }),
    h("p", { text: `${t("keys.algorithm")}: ${key.algorithm}` }),
    h("p", {}, `${t("keys.fingerprint")}: `, h("span", {
      class: "mono fingerprint", text: groupFingerprint(key.fingerprint), dataset: { fingerprint: kind },
    })),
    h("p", {}, `${t("keys.publicKey")}: `, code(key.public_key)),
    current ? h("p", { class: same ? "ok" : "fail", text: t(same ? "keys.matchesPin" : "keys.differsFromPin") }) : null,
    pinButton,
  );
}

function pinnedCard(kind) {
  const current = pinned(kind);
  const input = h("input", {
    type: "text", autocomplete: "off", spellcheck: false,
    attrs: { "aria-label": t("keys.paste"), placeholder: t("keys.paste") }, dataset: { pinInput: kind },
  });
  const message = h("p", { attrs: { role: "status" } });
  const pinTyped = actionButton(t("keys.pinTyped"), async () => {
    try {
      await pin(kind, input.value, "typed");
      renderKeys(document.getElementById("view"));
    } catch (error) {
      fill(message, errorBox(error));
    }
  }, { dataset: { pinTyped: kind } });
  const forget = current ? actionButton(t("keys.unpin"), async () => {
    unpin(kind);
    renderKeys(document.getElementById("view"));
  }) : null;
  return section(
    t("keys.pinnedTitle", { kind: t(`keys.kind.${kind}`) }),
    current
      ? h("p", {}, h("span", {
          class: "mono fingerprint", text: groupFingerprint(current.fingerprint), dataset: { pinned: kind },
        }), " ", h("span", { class: "muted", text: t(`keys.source.${current.source}`) }))
      : h("p", { class: "muted", text: t("keys.nothingPinned"), dataset: { pinned: kind } }),
    h("div", { class: "row" }, input, pinTyped, forget),
    message,
  );
}
