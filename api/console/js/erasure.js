// Erasing a subject: at once (the key is destroyed and a signed certificate comes back) or
// after a grace period of at most 72 hours, which can be cancelled until it runs.

import { api } from "./api.js";
import { certificateCard } from "./certificate.js";
import { actionButton, errorBox, fill, h, section, timeText } from "./dom.js";
import { t } from "./i18n.js";

const MAX_GRACE_HOURS = 72;
const REMEMBERED = "crm.console.erasures";

/** Erasure ids this tab saw per subject (ids only), to find their certificates again. */
export function rememberedErasures(subjectId) {
  try {
    return JSON.parse(sessionStorage.getItem(REMEMBERED) || "{}")[subjectId] || [];
  } catch {
    return [];
  }
}

function remember(subjectId, erasureId) {
  let all = {};
  try {
    all = JSON.parse(sessionStorage.getItem(REMEMBERED) || "{}") || {};
  } catch {
    all = {};
  }
  all[subjectId] = [...new Set([...(all[subjectId] || []), erasureId])];
  sessionStorage.setItem(REMEMBERED, JSON.stringify(all));
}

function labelled(label, input) {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

function requestChoice(requests) {
  const open = requests.filter((r) => r.kind === "erasure" && ["open", "in_progress"].includes(r.status));
  return h("select", { name: "request" },
    h("option", { value: "", text: t("erasure.noRequest") }),
    open.map((r) => h("option", { value: r.id, text: `${r.id.slice(0, 8)}… (${t(`filterStatus.${r.status}`)})` })));
}

/** The erasure form, and where its outcome (certificate or schedule) appears. */
export function erasureCard(contactId, requests) {
  const reason = h("input", { type: "text", name: "reason", maxLength: 500, required: true, autocomplete: "off" });
  const request = requestChoice(requests);
  const later = h("input", { type: "checkbox", name: "later" });
  const hours = h("input", { type: "number", name: "hours", min: 1, max: MAX_GRACE_HOURS, step: 1, value: 24, disabled: true });
  later.addEventListener("change", () => { hours.disabled = !later.checked; });
  const outcome = h("div", { attrs: { id: "erasure-outcome", "aria-live": "polite" } });
  const confirm = actionButton(t("erasure.confirm"), () => erase(), { class: "danger", hidden: true, dataset: { action: "confirm-erasure" } });
  const start = actionButton(t("erasure.start"), async () => {
    if (!reason.value.trim()) {
      fill(outcome, h("p", { class: "error", text: t("erasure.needReason") }));
      reason.focus();
      return;
    }
    confirm.textContent = later.checked ? t("erasure.confirmLater", { h: hours.value }) : t("erasure.confirm");
    confirm.hidden = false;
  }, { class: "danger", dataset: { action: "erase" } });

  async function erase() {
    confirm.hidden = true;
    const body = { reason: reason.value.trim() };
    if (request.value) body.request_id = request.value;
    if (later.checked) body.grace_period_hours = Math.min(MAX_GRACE_HOURS, Math.max(1, Number(hours.value) || 24));
    try {
      const { status, body: answer } = await api(`/v1/contacts/${contactId}/erasure`, { method: "POST", body });
      remember(contactId, answer.id);
      fill(outcome, status === 202 ? scheduledCard(answer) : certificateCard(answer));
    } catch (error) {
      fill(outcome, errorBox(error));
    }
  }

  return h("div", {},
    section(t("erasure.title"),
      h("p", { class: "warning", text: t("erasure.lead") }),
      labelled(t("erasure.reason"), reason),
      h("p", { class: "muted", text: t("erasure.reasonHint") }),
      labelled(t("erasure.request"), request),
      h("label", { class: "inline" }, later, " ", t("erasure.later")),
      labelled(t("erasure.hours"), hours),
      h("div", { class: "row" }, start, confirm)),
    outcome);
}

/** A scheduled erasure with its deadline and a cancel button. */
export function scheduledCard(scheduled) {
  const status = h("p", { dataset: { erasureStatus: scheduled.status }, attrs: { role: "status" } },
    t("erasure.status", { status: t(`erasure.${scheduled.status}`, {}, scheduled.status) }), " ",
    scheduled.due_at ? [t("erasure.due"), " ", timeText(scheduled.due_at)] : null);
  const card = section(t("erasure.scheduledTitle"), status);
  if (scheduled.status === "scheduled") {
    card.append(actionButton(t("erasure.cancel"), async () => {
      try {
        const { body } = await api(`/v1/erasures/${scheduled.id}/cancel`, { method: "POST" });
        card.replaceWith(scheduledCard(body));
      } catch (error) {
        card.append(errorBox(error));
      }
    }, { dataset: { action: "cancel-erasure" } }));
  }
  return card;
}
