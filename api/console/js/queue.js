// The queue of data-subject requests (UU PDP: 3x24 hours): every open and in-progress
// request with the time left, overdue ones first; start, complete, reject with a reason.

import { allPages, api, serverHas } from "./api.js";
import { certificateCard } from "./certificate.js";
import { actionButton, badge, code, downloadJson, errorBox, fill, h, table, timeText } from "./dom.js";
import { t } from "./i18n.js";
import { role } from "./session.js";

const ACTIVE = ["open", "in_progress"];
const STATUSES = ["active", "open", "in_progress", "done", "rejected", "all"];
const KINDS = [
  "access", "rectification", "erasure", "information", "restriction",
  "lift_restriction", "withdrawal", "objection", "portability",
];
const EXPORTING = new Set(["access", "portability"]);
const VERIFY_METHODS = ["document", "otp", "in_person", "account"];
const state = { status: "active", kind: "all", rows: [], complete: true, results: new Map() };

/** Time left until `dueIso` at `now` (ms since the epoch). */
export function timeLeft(dueIso, now) {
  const ms = new Date(dueIso).getTime() - now;
  return { overdue: ms < 0, ms: Math.abs(ms) };
}

/** "2 d 3 h", "5 h 12 min", "8 min": the largest two units of a duration. */
export function formatDuration(ms) {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days) return t("time.daysHours", { d: days, h: hours });
  if (hours) return t("time.hoursMinutes", { h: hours, m: rest });
  return t("time.minutes", { m: rest });
}

/** Overdue open work first, then by deadline; closed requests after, newest first. */
export function orderQueue(rows, now) {
  const isOverdue = (r) => ACTIVE.includes(r.status) && timeLeft(r.due_at, now).overdue;
  const rank = (r) => (isOverdue(r) ? 0 : ACTIVE.includes(r.status) ? 1 : 2);
  return [...rows].sort((a, b) => {
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    if (rank(a) < 2) return new Date(a.due_at) - new Date(b.due_at);
    return new Date(b.closed_at || b.received_at) - new Date(a.closed_at || a.received_at);
  });
}

async function load() {
  const statuses = state.status === "active" ? ACTIVE : state.status === "all" ? [null] : [state.status];
  const pages = await Promise.all(statuses.map((status) => allPages("/v1/requests", { status })));
  state.rows = pages.flatMap((page) => page.items);
  state.complete = pages.every((page) => page.complete);
}

function filters(root) {
  const select = (name, values, current, label) => {
    const node = h("select", { name, attrs: { "aria-label": label } },
      values.map((v) => h("option", { value: v, text: t(`${name}.${v}`), selected: v === current })));
    node.addEventListener("change", async () => {
      state[name === "filterStatus" ? "status" : "kind"] = node.value;
      await renderQueue(root);
    });
    return node;
  };
  return h("div", { class: "row filters" },
    h("label", { class: "inline" }, t("queue.status"), " ", select("filterStatus", STATUSES, state.status, t("queue.status"))),
    h("label", { class: "inline" }, t("queue.kind"), " ", select("filterKind", ["all", ...KINDS], state.kind, t("queue.kind"))),
    actionButton(t("queue.refresh"), () => renderQueue(root), { dataset: { action: "refresh" } }),
  );
}

function deadline(row, now) {
  if (!ACTIVE.includes(row.status)) return h("span", { class: "muted", text: t("queue.closed") });
  const left = timeLeft(row.due_at, now);
  return left.overdue
    ? badge("overdue", t("queue.overdueBy", { d: formatDuration(left.ms) }))
    : h("span", { class: left.ms < 12 * 3600_000 ? "soon" : "", text: t("queue.left", { d: formatDuration(left.ms) }) });
}

export async function renderQueue(root) {
  const list = h("div", { attrs: { id: "queue-list" }, dataset: { state: "busy" } }, t("common.loading"));
  fill(root, h("h1", { text: t("queue.title") }), h("p", { class: "lead", text: t("queue.lead") }), filters(root), list);
  try {
    await load();
  } catch (error) {
    fill(list, errorBox(error));
    list.dataset.state = "error";
    return;
  }
  drawList(list);
}

function drawList(list) {
  const now = Date.now();
  const rows = orderQueue(state.rows.filter((r) => state.kind === "all" || r.kind === state.kind), now);
  fill(list,
    state.complete ? null : h("p", { class: "warning", text: t("queue.truncated") }),
    table([
      [t("queue.kind"), (r) => t(`filterKind.${r.kind}`, {}, r.kind)],
      [t("queue.status"), (r) => badge(r.status, t(`filterStatus.${r.status}`, {}, r.status))],
      [t("queue.deadline"), (r) => [timeText(r.due_at), h("br"), deadline(r, now)]],
      [t("queue.received"), (r) => timeText(r.received_at)],
      [t("queue.subject"), subjectCell],
      [t("queue.actions"), (r) => actions(r, list)],
    ], rows, t("queue.empty"), (r) => ({
      class: ACTIVE.includes(r.status) && timeLeft(r.due_at, now).overdue ? "overdue" : "",
      dataset: { request: r.id, status: r.status },
    })),
  );
  list.dataset.state = "done";
}

function subjectCell(row) {
  const link = role() === "privacy_officer"
    ? h("a", { href: `#/subject/${row.contact_id}`, text: t("queue.openSubject") })
    : null;
  return [code(row.contact_id), link ? h("br") : null, link];
}

function canWork() {
  return role() === "privacy_officer" || role() === "admin";
}

function actions(row, list) {
  const box = h("div", { class: "actions" });
  const result = state.results.get(row.id);
  if (result) box.append(result);
  if (!canWork() || !ACTIVE.includes(row.status)) return box;
  const step = (name, body) => move(row, name, body, list);
  if (row.status === "open") box.append(actionButton(t("queue.start"), () => step("start"), { dataset: { step: "start" } }));
  if (row.status === "in_progress") box.append(completeButton(row, step));
  box.append(verifyControls(row, list), rejectControls(row, step));
  return box;
}

function completeButton(row, step) {
  if (row.kind !== "erasure") return actionButton(t("queue.complete"), () => step("complete"), { dataset: { step: "complete" } });
  const confirm = actionButton(t("queue.confirmErase"), () => step("complete"), { class: "danger", hidden: true, dataset: { step: "confirm-complete" } });
  const ask = actionButton(t("queue.completeErasure"), async () => {
    confirm.hidden = false;
    ask.hidden = true;
  }, { dataset: { step: "complete" } });
  return h("span", {}, ask, confirm);
}

function rejectControls(row, step) {
  const reason = h("input", { type: "text", maxLength: 500, attrs: { "aria-label": t("queue.reason"), placeholder: t("queue.reason") }, dataset: { reason: row.id } });
  const send = actionButton(t("queue.reject"), async () => {
    if (!reason.value.trim()) {
      reason.focus();
      return;
    }
    await step("reject", { reason: reason.value.trim() });
  }, { dataset: { step: "reject" } });
  return h("details", { class: "reject" }, h("summary", { text: t("queue.rejectWith") }), reason, send);
}

function verifyControls(row, list) {
  const holder = h("span");
  serverHas("/v1/requests/{request_id}/verify").then((has) => {
    if (!has) return;
    const method = h("select", { attrs: { "aria-label": t("queue.verifyMethod") } },
      VERIFY_METHODS.map((m) => h("option", { value: m, text: t(`verify.${m}`) })));
    const verified = row.verification ? h("span", { class: "ok", text: t("queue.verified"), dataset: { verified: row.verification.method } }) : null;
    holder.append(verified ?? h("details", { class: "evidence" }, h("summary", { text: t("queue.verifyIdentity"), dataset: { action: "verify-identity" } }), method,
      actionButton(t("queue.recordVerification"), () => move(row, "verify", { method: method.value }, list), { dataset: { step: "verify" } })));
  });
  return holder;
}

async function move(row, name, body, list) {
  try {
    const { body: answer } = await api(`/v1/requests/${row.id}/${name}`, {
      method: "POST", body: body ?? undefined, headers: { "If-Match": `"${row.version}"` },
    });
    state.results.set(row.id, resultOf(answer));
    Object.assign(row, answer);
  } catch (error) {
    state.results.set(row.id, errorBox(error));
  }
  drawList(list);
}

function resultOf(answer) {
  if (answer.certificate) return h("div", { class: "result" }, certificateCard(answer.certificate));
  if (answer.status === "done" && EXPORTING.has(answer.kind) && role() === "privacy_officer") {
    return h("div", { class: "result" }, h("p", { class: "ok", text: t("queue.doneExport") }),
      actionButton(t("subject.download"), async () => {
        const { body } = await api(`/v1/contacts/${answer.contact_id}/export`);
        downloadJson(body, `subject-export-${answer.contact_id}.json`);
      }, { dataset: { action: "download-export" } }));
  }
  return h("p", { class: "ok", attrs: { role: "status" }, text: t("queue.moved", { status: t(`filterStatus.${answer.status}`, {}, answer.status) }) });
}
