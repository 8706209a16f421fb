// Building the page from nodes only: every value goes in as text (textContent or a text
// node), never as markup. The CSP's Trusted Types would make any HTML sink throw anyway.

import { t, formatTime } from "./i18n.js";

/** An element with props ({class, text, attrs, on, hidden, ...properties}) and children. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "attrs") setAttributes(node, value);
    else if (name === "on") listen(node, value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node[name] = value;
  }
  append(node, children);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
}

function listen(node, handlers) {
  for (const [event, handler] of Object.entries(handlers)) node.addEventListener(event, handler);
}

/** Append children: strings become text nodes, arrays are flattened, null is skipped. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A time in the viewer's zone, with the UTC value on hover. */
export function timeText(iso) {
  if (!iso) return h("span", { class: "muted", text: "–" });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", { text: iso });
  return h("time", {
    text: formatTime(date),
    attrs: { datetime: date.toISOString(), title: `UTC ${date.toISOString()}` },
  });
}

/** A badge: sealed / erased markers, statuses, verdicts. */
export function badge(kind, text) {
  return h("span", { class: `badge badge-${kind}`, text: text ?? kind });
}

/** The marker an auditor sees instead of a personal value. */
export function marker(value) {
  const kind = value === "erased" ? "erased" : "sealed";
  return badge(kind, t(`marker.${kind}`));
}

/** A definition list of [label, value-node-or-text] pairs. */
export function fields(pairs) {
  return h(
    "dl",
    { class: "fields" },
    pairs.map(([label, value]) => [h("dt", { text: label }), h("dd", {}, value ?? "–")]),
  );
}

/** A table: columns are [label, row => node-or-text], `rowProps(row)` the props of each
 * row; wrapped so it scrolls on a phone. */
export function table(columns, rows, empty, rowProps = () => ({})) {
  if (!rows.length) return h("p", { class: "muted", text: empty ?? t("common.none") });
  const head = h("tr", {}, columns.map(([label]) => h("th", { attrs: { scope: "col" }, text: label })));
  const body = rows.map((row) =>
    h("tr", rowProps(row), columns.map(([label, cell]) => h("td", { dataset: { label } }, cell(row) ?? "–"))),
  );
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

/** Monospace text that wraps (ids, hashes, keys). */
export function code(text) {
  return h("code", { class: "mono", text: text ?? "–" });
}

/** A section with a heading. */
export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", { text: title }), children);
}

/** A problem from the API (or any error) shown as text. */
export function errorBox(error) {
  return h("p", { class: "error", attrs: { role: "alert" }, text: describeError(error) });
}

export function describeError(error) {
  if (error && error.status) {
    const detail = error.problem?.detail || error.problem?.title || "";
    return `${t("error.http", { status: error.status })}${detail ? `: ${detail}` : ""}`;
  }
  return String(error?.message || error);
}

/** Offer a JSON document as a file download, through a Blob URL made in this page. */
export function downloadJson(document_, filename) {
  const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A button that shows a busy state while its async action runs. */
export function actionButton(label, action, props = {}) {
  const button = h("button", { type: "button", text: label, ...props });
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await action(button);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
  return button;
}
