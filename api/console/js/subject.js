// A data subject's whole story for the privacy officer: fields and their changes, consents
// and their history, service data, linked accounts, shares with their steps, requests and
// (where the server has it) the processing trail; the export as a file; erasure.

import { allPages, api, ApiError, query, serverHas } from "./api.js";
import { certificateCard } from "./certificate.js";
import { actionButton, badge, code, downloadJson, errorBox, fields, fill, h, section, table, timeText } from "./dom.js";
import { t } from "./i18n.js";
import { erasureCard, rememberedErasures } from "./erasure.js";

const CONTACT_FIELDS = ["full_name", "email", "phone", "company", "job_title", "age"];

function finder() {
  const input = h("input", {
    type: "search", name: "subject", autocomplete: "off", spellcheck: false,
    attrs: { "aria-label": t("subject.find"), placeholder: t("subject.findHint") },
  });
  const results = h("div", { attrs: { id: "subject-matches" } });
  const form = h("form", { class: "row", attrs: { id: "subject-find" } }, input, h("button", { type: "submit", text: t("subject.findButton") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await find(input.value.trim(), results);
  });
  return h("div", { class: "card" }, h("h2", { text: t("subject.find") }), form, results);
}

async function find(text, results) {
  if (/^[0-9a-f-]{36}$/.test(text)) {
    location.hash = `#/subject/${text}`;
    return;
  }
  const params = text.includes("@") ? { email: text } : { phone: text };
  try {
    const { body } = await api(`/v1/contacts${query(params)}`);
    fill(results, table([
      [t("field.full_name"), (c) => c.full_name],
      [t("subject.id"), (c) => h("a", { href: `#/subject/${c.id}`, text: c.id })],
    ], body.items, t("subject.noMatch")));
  } catch (error) {
    fill(results, errorBox(error));
  }
}

export async function renderSubject(root, contactId) {
  fill(root, h("h1", { text: t("subject.title") }), h("p", { class: "lead", text: t("subject.lead") }), finder());
  if (!contactId) return;
  const story = h("div", { attrs: { id: "subject-story" }, dataset: { state: "busy" } }, t("common.loading"));
  root.append(story);
  try {
    const { body } = await api(`/v1/contacts/${contactId}/export`);
    await drawStory(story, body);
    story.dataset.state = "done";
  } catch (error) {
    if (error instanceof ApiError && error.status === 410) await drawErased(story, contactId);
    else fill(story, errorBox(error));
    story.dataset.state = error.status === 410 ? "erased" : "error";
  }
}

async function drawStory(story, exported) {
  const contact = exported.contact;
  fill(story,
    section(t("subject.fields"),
      fields(CONTACT_FIELDS.map((name) => [t(`field.${name}`), valueText(contact[name], name)])),
      fields([[t("subject.id"), code(contact.id)], [t("subject.created"), timeText(contact.created_at)], [t("subject.updated"), timeText(contact.updated_at)]]),
      h("div", { class: "row" }, actionButton(t("subject.download"), async () => downloadJson(exported, `subject-export-${contact.id}.json`), { dataset: { action: "download-export" } })),
    ),
    section(t("subject.history"), historyTable(exported.history)),
    section(t("subject.consents"), consents(exported.consents)),
    section(t("subject.activities"), activities(exported.activities)),
    section(t("subject.links"), links(exported.linked_accounts)),
    section(t("subject.shares"), shares(exported.shares)),
    section(t("subject.requests"), requestsTable(exported.requests)),
    await trail(contact.id, exported.processing),
    erasureCard(contact.id, exported.requests),
  );
}

function valueText(value, name) {
  if (value === null || value === undefined) return h("span", { class: "muted", text: "–" });
  return h("span", { class: "value", text: String(value), dataset: { field: name } });
}

function changeText(change) {
  const set = Object.entries(change.set || {}).map(([k, v]) => `${t(`field.${k}`, {}, k)}: ${v}`);
  const cleared = (change.cleared || []).map((k) => `${t(`field.${k}`, {}, k)}: –`);
  return [...set, ...cleared].join("; ") || "–";
}

function historyTable(history) {
  return table([
    [t("common.version"), (c) => String(c.version)],
    [t("common.event"), (c) => c.type],
    [t("common.at"), (c) => timeText(c.at)],
    [t("common.actor"), (c) => code(c.actor)],
    [t("subject.change"), (c) => changeText(c)],
  ], history);
}

function granted(value) {
  return badge(value ? "ok" : "fail", t(value ? "consent.granted" : "consent.withdrawn"));
}

function consents(view) {
  return [
    h("h3", { text: t("consent.current") }),
    table([
      [t("consent.purpose"), (c) => t(`purpose.${c.purpose}`, {}, c.purpose)],
      [t("consent.state"), (c) => (c.decided_at ? granted(c.granted) : h("span", { class: "muted", text: t("consent.never") }))],
      [t("consent.policy"), (c) => c.policy_version],
      [t("common.at"), (c) => timeText(c.decided_at)],
    ], view.current),
    h("h3", { text: t("consent.history") }),
    table([
      [t("consent.purpose"), (c) => t(`purpose.${c.purpose}`, {}, c.purpose)],
      [t("consent.state"), (c) => granted(c.granted)],
      [t("consent.policy"), (c) => c.policy_version],
      [t("consent.source"), (c) => c.source],
      [t("common.at"), (c) => timeText(c.at)],
      [t("common.actor"), (c) => code(c.recorded_by)],
    ], view.history),
    h("h3", { text: t("consent.acceptances") }),
    table([
      [t("consent.policy"), (a) => a.policy_version],
      [t("consent.source"), (a) => a.source],
      [t("common.at"), (a) => timeText(a.at)],
    ], view.policy_acceptances),
  ];
}

function activities(items) {
  return table([
    [t("activity.kind"), (a) => a.kind],
    [t("activity.occurred"), (a) => timeText(a.occurred_at)],
    [t("activity.ip"), (a) => a.ip],
    [t("activity.device"), (a) => [a.device, a.user_agent].filter(Boolean).join(" · ") || "–"],
    [t("activity.location"), (a) => a.location],
    [t("activity.detail"), (a) => [a.referrer, a.detail].filter(Boolean).join(" · ") || "–"],
  ], items);
}

function links(items) {
  return table([
    [t("link.provider"), (l) => l.provider],
    [t("link.handle"), (l) => l.handle],
    [t("queue.status"), (l) => badge(l.status, t(`linkStatus.${l.status}`, {}, l.status))],
    [t("link.linked"), (l) => timeText(l.linked_at)],
    [t("link.unlinked"), (l) => timeText(l.unlinked_at)],
  ], items);
}

function shares(items) {
  if (!items.length) return h("p", { class: "muted", text: t("common.none") });
  return items.map((share) => h("article", { class: "share" },
    h("h3", {}, share.recipient, " ", badge(share.status, t(`step.${share.status}`, {}, share.status))),
    fields([
      [t("share.purpose"), t(`purpose.${share.purpose}`, {}, share.purpose)],
      [t("share.fields"), share.fields.map((f) => t(`field.${f}`, {}, f)).join(", ")],
      [t("share.agreement"), share.agreement_ref],
      [t("share.expires"), timeText(share.expires_at)],
    ]),
    table([
      [t("share.step"), (s) => t(`step.${s.step}`, {}, s.step)],
      [t("common.at"), (s) => timeText(s.at)],
      [t("common.actor"), (s) => code(s.actor)],
    ], share.history),
    share.shared ? h("p", { class: "muted", text: `${t("share.shared")}: ${Object.entries(share.shared).map(([k, v]) => `${t(`field.${k}`, {}, k)}: ${v}`).join("; ")}` }) : null,
  ));
}

export function requestsTable(items) {
  return table([
    [t("queue.kind"), (r) => t(`filterKind.${r.kind}`, {}, r.kind)],
    [t("queue.status"), (r) => badge(r.status, t(`filterStatus.${r.status}`, {}, r.status))],
    [t("queue.received"), (r) => timeText(r.received_at)],
    [t("queue.deadline"), (r) => timeText(r.due_at)],
    [t("request.reason"), (r) => r.reason],
  ], items);
}

/** The processing trail, once the server has it (GET /v1/audit/access or the export's
 * `processing`); until then a note says it is not there yet. `asOf` limits it to the
 * openings up to that time, as the timeline beside it. */
export async function trail(contactId, fromExport, asOf = null) {
  let items = Array.isArray(fromExport) ? fromExport : null;
  let note = null;
  if (await serverHas("/v1/audit/access")) {
    try {
      const filter = asOf ? { contact_id: contactId, as_of: asOf } : { contact_id: contactId };
      items = (await allPages("/v1/audit/access", filter, 5)).items;
    } catch (error) {
      note = errorBox(error);
    }
  }
  const body = items === null && note === null
    ? h("p", { class: "muted", text: t("trail.unavailable"), dataset: { trail: "unavailable" } })
    : note ?? h("div", { dataset: { trail: "shown" } }, trailTable(items));
  return section(t("trail.title"), h("p", { class: "lead", text: t("trail.lead") }), body);
}

function trailTable(items) {
  return table([
    [t("common.position"), (e) => String(e.position)],
    [t("common.at"), (e) => timeText(e.at)],
    [t("common.actor"), (e) => [code(e.actor), e.role ? ` (${t(`role.${e.role}`, {}, e.role)})` : ""]],
    [t("trail.purpose"), (e) => t(`purpose.${e.purpose}`, {}, e.purpose)],
    [t("trail.operation"), (e) => e.operation],
    [t("trail.fields"), (e) => (e.fields || []).map((f) => t(`field.${f}`, {}, f)).join(", ")],
    [t("certificate.request"), (e) => (e.request_id ? code(e.request_id) : "–")],
  ], items);
}

async function drawErased(story, contactId) {
  let requests = [];
  try {
    requests = (await allPages("/v1/requests", { contact_id: contactId }, 2)).items;
  } catch {
    requests = [];
  }
  const certificates = h("div", { attrs: { id: "erased-certificate" } });
  const known = [...requests.map((r) => r.erasure_id), ...rememberedErasures(contactId)];
  const erasureIds = [...new Set(known.filter(Boolean))];
  fill(story,
    section(t("subject.erasedTitle"), h("p", { text: t("subject.erasedLead") }),
      h("div", { class: "row" }, erasureIds.map((id) => actionButton(`${t("subject.showCertificate")} (${id.slice(0, 8)}…)`,
        () => showCertificate(id, certificates), { dataset: { erasure: id } }))),
      lookup(certificates)),
    certificates,
    section(t("subject.requests"), requestsTable(requests)),
  );
}

function lookup(target) {
  const id = h("input", { type: "text", name: "erasure", autocomplete: "off", spellcheck: false });
  const form = h("form", { class: "row" }, h("label", { class: "field" }, h("span", { text: t("certificate.erasure") }), id),
    h("button", { type: "submit", text: t("audit.showCertificate") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showCertificate(id.value.trim(), target);
  });
  return form;
}

export async function showCertificate(erasureId, target) {
  try {
    const { body } = await api(`/v1/erasures/${erasureId}`);
    fill(target, body.signature ? certificateCard(body) : h("p", { text: t("erasure.status", { status: t(`erasure.${body.status}`, {}, body.status) }) }));
  } catch (error) {
    fill(target, errorBox(error));
  }
}
