// An erasure certificate, checked in this browser under the pinned certificate key.

import { actionButton, code, downloadJson, fields, h, section, timeText } from "./dom.js";
import { t } from "./i18n.js";
import { pinned, pinnedLabel } from "./keys.js";
import { carriesPinnedKey, verifyCertificate } from "./signatures.js";

/** The verdict on a certificate: {state: verified|failed|unpinned|malformed, carried}. */
export async function certificateVerdict(certificate) {
  const key = pinned("certificates");
  if (!key) return { state: "unpinned" };
  try {
    const ok = await verifyCertificate(certificate, key.raw);
    return { state: ok ? "verified" : "failed", carried: carriesPinnedKey(certificate, key.raw) };
  } catch (error) {
    return { state: "malformed", reason: String(error.message || error) };
  }
}

/** A verdict line with its data-verdict attribute (what the tests and screen readers read). */
export function verdictLine(verdict, prefix) {
  const text = t(`${prefix}.${verdict.state}`) + (verdict.reason ? `: ${verdict.reason}` : "");
  const kind = verdict.state === "verified" ? "ok" : verdict.state === "unpinned" ? "warning" : "fail";
  return h("p", { class: `verdict ${kind}`, text, dataset: { verdict: verdict.state }, attrs: { role: "status" } });
}

function carriedLine(verdict) {
  if (verdict.carried === undefined) return null;
  return h("p", { class: "muted", text: t(verdict.carried ? "certificate.carriedSame" : "certificate.carriedOther") });
}

async function renderVerdict(target, certificate) {
  const verdict = await certificateVerdict(certificate);
  target.replaceChildren(verdictLine(verdict, "certificate"), carriedLine(verdict), pinnedLabel("certificates"));
}

/** A card showing the certificate's fields, its verdict, a re-check and a download. */
export function certificateCard(certificate) {
  const verdict = h("div", { class: "verdict-box", dataset: { certificateVerdict: certificate.erasure_id } });
  renderVerdict(verdict, certificate);
  return section(
    t("certificate.title"),
    h("p", { class: "lead", text: t("certificate.lead") }),
    fields([
      [t("certificate.erasure"), code(certificate.erasure_id)],
      [t("certificate.subject"), code(certificate.subject_id)],
      [t("certificate.key"), code(certificate.key_id)],
      [t("certificate.destroyedAt"), timeText(certificate.destroyed_at)],
      [t("certificate.erasedBy"), code(certificate.erased_by)],
      [t("certificate.request"), certificate.request_id ? code(certificate.request_id) : "–"],
      [t("certificate.position"), String(certificate.ledger_position)],
      [t("certificate.signature"), code(certificate.signature)],
    ]),
    verdict,
    h("div", { class: "row" },
      actionButton(t("certificate.recheck"), () => renderVerdict(verdict, certificate), { dataset: { recheck: "certificate" } }),
      actionButton(t("certificate.download"), async () => downloadJson(certificate, `erasure-certificate-${certificate.erasure_id}.json`)),
    ),
  );
}
