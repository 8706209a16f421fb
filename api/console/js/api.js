// The JSON API, called from this origin only (the CSP's connect-src 'self'). The token is
// sent as a header, never in a URL; requests carry no cookies and no referrer.

import { currentToken, expire } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

function newKey() {
  return globalThis.crypto?.randomUUID ? crypto.randomUUID() : null;
}

function requestHeaders(method, body, extra, token) {
  const headers = { Accept: "application/json", ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = method === "POST" && token ? newKey() : null;
  if (key) headers["Idempotency-Key"] = key;
  return headers;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** Call the API: resolves to {status, body, etag}; a non-2xx answer rejects with ApiError.
 * `auth: false` sends no token (public endpoints); `token` one other than the session's.
 * A 401 to the session's own token forgets the session. */
export async function api(path, { method = "GET", body, headers = {}, auth = true, token } = {}) {
  const bearer = auth ? (token ?? currentToken()) : null;
  const response = await fetch(path, {
    method,
    headers: requestHeaders(method, body, headers, bearer),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
    referrerPolicy: "no-referrer",
  });
  const parsed = await parse(response);
  if (!response.ok) {
    if (response.status === 401 && bearer && bearer === currentToken()) expire();
    throw new ApiError(response.status, parsed);
  }
  return { status: response.status, body: parsed, etag: response.headers.get("ETag") };
}

/** A query string from the non-empty values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Every item of a paginated list, following next_cursor up to `maxPages` pages. */
export async function allPages(path, params = {}, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const { body } = await api(path + query({ ...params, limit: 500, cursor }));
    items.push(...body.items);
    cursor = body.next_cursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

let openapi = null;

/** Whether the server's OpenAPI document lists `path` (features that are still landing,
 * such as the processing trail, show once the server has them). */
export async function serverHas(path) {
  if (openapi === null) {
    try {
      openapi = (await api("/openapi.json", { auth: false })).body || {};
    } catch {
      openapi = {};
    }
  }
  return Boolean(openapi.paths && openapi.paths[path]);
}
