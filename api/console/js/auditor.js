// The auditor's view: the ledger's state, the server's own verification (its claim), and
// proofs checked by this browser against the pinned ledger key; a contact's masked
// timeline as of any time; certificates. No personal value is ever requested here.

import { api, query } from "./api.js";
import { verdictLine } from "./certificate.js";
import { actionButton, code, errorBox, fields, fill, h, marker, section, table, timeText } from "./dom.js";
import { t } from "./i18n.js";
import { pinned, pinnedLabel } from "./keys.js";
import { checkCheckpoint, checkConsistency, checkInclusion, keepCheckpoint, keptCheckpoints } from "./proofs.js";
import { showCertificate, trail } from "./subject.js";

function numberInput(name, label, value) {
  return h("label", { class: "field" }, h("span", { text: label }),
    h("input", { type: "number", name, min: 1, step: 1, value: value ?? "", attrs: { list: "kept-sizes" } }));
}

function keptSizes() {
  return h("datalist", { attrs: { id: "kept-sizes" } }, keptCheckpoints().map((c) => h("option", { value: String(c.size) })));
}

/** A verdict with each check listed; `data-verdict` is verified or failed. */
function proofVerdict(result, extra = []) {
  const key = pinned("ledger");
  return h("div", { class: "verdict-box" },
    verdictLine({ state: result.ok ? "verified" : "failed" }, "proof"),
    h("ul", { class: "checks" }, result.checks.map((c) =>
      h("li", { class: c.ok ? "ok" : "fail", text: `${c.ok ? "✓" : "✗"} ${t(`check.${c.name}`)}${c.detail ? `: ${c.detail}` : ""}` }))),
    extra,
    key ? pinnedLabel("ledger") : null);
}

function needsKey(target) {
  if (pinned("ledger")) return false;
  fill(target, verdictLine({ state: "unpinned" }, "proof"), h("p", {}, h("a", { href: "#/keys", text: t("keys.goPin") })));
  return true;
}

function checkpointSection() {
  const out = h("div", { attrs: { id: "checkpoint-result" }, dataset: { state: "idle" } });
  const fetchLatest = actionButton(t("audit.fetchCheckpoint"), async () => {
    out.dataset.state = "busy";
    try {
      const { body } = await api("/v1/audit/checkpoints/latest");
      await drawCheckpoint(out, body);
      out.dataset.state = "done";
    } catch (error) {
      fill(out, errorBox(error));
      out.dataset.state = "error";
    }
  }, { dataset: { action: "fetch-checkpoint" } });
  return section(t("audit.checkpoint"), h("p", { class: "lead", text: t("audit.checkpointLead") }), fetchLatest, out);
}

async function drawCheckpoint(out, checkpoint) {
  const key = pinned("ledger");
  const checks = key ? await checkCheckpoint(checkpoint, key.raw) : null;
  if (checks && checks.every((c) => c.ok)) keepCheckpoint(checkpoint);
  fill(out,
    fields([
      [t("audit.size"), h("span", { text: String(checkpoint.size), dataset: { checkpointSize: String(checkpoint.size) } })],
      [t("common.position"), String(checkpoint.position)],
      [t("audit.root"), code(checkpoint.root_hash)],
      [t("audit.signedAt"), timeText(checkpoint.timestamp)],
    ]),
    checks ? proofVerdict({ ok: checks.every((c) => c.ok), checks }) : verdictLine({ state: "unpinned" }, "proof"),
    h("p", { class: "muted", text: t("audit.kept", { n: keptCheckpoints().length }) }));
}

function serverVerifySection() {
  const out = h("div", { attrs: { id: "server-verify", "aria-live": "polite" }, dataset: { state: "idle" } });
  const run = actionButton(t("audit.runVerify"), async () => {
    const started = Date.now();
    out.dataset.state = "busy";
    const busy = h("p", { class: "busy", text: t("audit.verifying", { s: 0 }) });
    fill(out, busy);
    const timer = setInterval(() => { busy.textContent = t("audit.verifying", { s: Math.round((Date.now() - started) / 1000) }); }, 1000);
    try {
      const { body } = await api("/v1/audit/verify");
      fill(out, serverVerdict(body));
      out.dataset.state = body.ok ? "ok" : "bad";
    } catch (error) {
      fill(out, errorBox(error));
      out.dataset.state = "error";
    } finally {
      clearInterval(timer);
    }
  }, { dataset: { action: "server-verify" } });
  return section(t("audit.serverVerify"), h("p", { class: "warning", text: t("audit.serverClaim") }), run, out);
}

function serverVerdict(body) {
  const line = h("p", { class: body.ok ? "ok" : "fail", dataset: { serverVerdict: body.ok ? "ok" : "bad" } },
    body.ok ? t("audit.serverOk", { n: body.checked }) : t("audit.serverBad", { p: body.first_bad_position, reason: body.reason }));
  return [line, h("p", { class: "muted", text: t("audit.serverClaimShort") })];
}

function inclusionSection() {
  const out = h("div", { attrs: { id: "inclusion-result" }, dataset: { state: "idle" } });
  const form = h("form", { class: "row", attrs: { id: "inclusion-form" } },
    numberInput("position", t("common.position")), numberInput("size", t("audit.sizeOptional")),
    h("button", { type: "submit", text: t("audit.checkInclusion") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (needsKey(out)) return;
    out.dataset.state = "busy";
    try {
      const { body } = await api(`/v1/audit/proofs/inclusion${query({ position: form.elements.position.value, size: form.elements.size.value })}`);
      const result = await checkInclusion(body, pinned("ledger").raw);
      fill(out, proofVerdict(result, fields([
        [t("audit.leafIndex"), String(body.leaf_index)],
        [t("audit.treeSize"), String(body.tree_size)],
        [t("audit.computedRoot"), code(result.computedRoot)],
        [t("audit.checkpointRoot"), code(result.expectedRoot)],
      ])));
      out.dataset.state = result.ok ? "verified" : "failed";
    } catch (error) {
      fill(out, errorBox(error));
      out.dataset.state = "error";
    }
  });
  return section(t("audit.inclusion"), h("p", { class: "lead", text: t("audit.inclusionLead") }), form, out);
}

function consistencySection() {
  const kept = keptCheckpoints();
  const out = h("div", { attrs: { id: "consistency-result" }, dataset: { state: "idle" } });
  const form = h("form", { class: "row", attrs: { id: "consistency-form" } },
    numberInput("first", t("audit.first"), kept.length > 1 ? kept[0].size : 1),
    numberInput("second", t("audit.second"), kept.length ? kept[kept.length - 1].size : ""),
    h("button", { type: "submit", text: t("audit.checkConsistency") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (needsKey(out)) return;
    out.dataset.state = "busy";
    try {
      const { body } = await api(`/v1/audit/proofs/consistency${query({ first: form.elements.first.value, second: form.elements.second.value })}`);
      const result = await checkConsistency(body, pinned("ledger").raw);
      fill(out, proofVerdict(result));
      out.dataset.state = result.ok ? "verified" : "failed";
    } catch (error) {
      fill(out, errorBox(error));
      out.dataset.state = "error";
    }
  });
  return section(t("audit.consistency"), h("p", { class: "lead", text: t("audit.consistencyLead") }), form, out);
}

function asOfUtc(localValue) {
  if (!localValue) return null;
  const date = new Date(localValue);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function timelineSection() {
  const out = h("div", { attrs: { id: "timeline-result" }, dataset: { state: "idle" } });
  const contact = h("input", { type: "text", name: "contact", autocomplete: "off", spellcheck: false, required: true });
  const asOf = h("input", { type: "datetime-local", name: "asof", step: 0.001 });
  const form = h("form", { class: "row", attrs: { id: "timeline-form" } },
    h("label", { class: "field" }, h("span", { text: t("audit.contactId") }), contact),
    h("label", { class: "field" }, h("span", { text: t("audit.asOf") }), asOf),
    h("button", { type: "submit", text: t("audit.showTimeline") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.dataset.state = "busy";
    try {
      await drawTimeline(out, contact.value.trim(), asOfUtc(asOf.value));
      out.dataset.state = "done";
    } catch (error) {
      fill(out, errorBox(error));
      out.dataset.state = "error";
    }
  });
  return section(t("audit.timeline"), h("p", { class: "lead", text: t("audit.timelineLead") }), form, out);
}

async function drawTimeline(out, contactId, asOf) {
  const params = query({ as_of: asOf });
  const [{ body: state }, { body: events }] = await Promise.all([
    api(`/v1/audit/contacts/${contactId}/state${params}`),
    api(`/v1/audit/events${query({ contact_id: contactId, as_of: asOf, limit: 500 })}`),
  ]);
  fill(out,
    h("h3", {}, t("audit.stateAsOf"), " ", timeText(state.as_of)),
    fields([
      [t("common.version"), String(state.version)],
      [t("subject.created"), timeText(state.created_at)],
      [t("subject.updated"), timeText(state.updated_at)],
      ...Object.entries(state.fields).map(([name, value]) => [t(`field.${name}`, {}, name), marker(value)]),
    ]),
    h("h3", { text: t("audit.events") }),
    table([
      [t("common.position"), (e) => actionButton(String(e.position), () => proveEvent(e.position), { class: "link", dataset: { prove: String(e.position) } })],
      [t("common.event"), (e) => e.type],
      [t("common.at"), (e) => timeText(e.occurred_at)],
      [t("common.actor"), (e) => code(e.actor)],
      [t("audit.data"), (e) => dataText(e.data)],
      [t("audit.personal"), (e) => Object.entries(e.personal).map(([name, value]) => h("span", { class: "pair" }, `${t(`field.${name}`, {}, name)} `, marker(value)))],
    ], events.items),
    await trail(contactId, null, asOf));
}

function dataText(data) {
  const entries = Object.entries(data || {});
  if (!entries.length) return "–";
  return h("span", { class: "mono small", text: entries.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · ") });
}

function proveEvent(position) {
  const form = document.getElementById("inclusion-form");
  form.elements.position.value = String(position);
  form.elements.size.value = "";
  form.requestSubmit();
  form.scrollIntoView({ block: "center" });
}

function certificateSection() {
  const out = h("div", { attrs: { id: "certificate-lookup" } });
  const id = h("input", { type: "text", name: "erasure", autocomplete: "off", spellcheck: false });
  const form = h("form", { class: "row" }, h("label", { class: "field" }, h("span", { text: t("certificate.erasure") }), id),
    h("button", { type: "submit", text: t("audit.showCertificate") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showCertificate(id.value.trim(), out);
  });
  return section(t("certificate.title"), form, out);
}

export function renderAuditor(root) {
  fill(root,
    h("h1", { text: t("audit.title") }),
    h("p", { class: "lead", text: t("audit.lead") }),
    pinnedLabel("ledger"),
    keptSizes(),
    h("div", { class: "grid-2" }, checkpointSection(), serverVerifySection()),
    inclusionSection(),
    consistencySection(),
    timelineSection(),
    certificateSection());
}
