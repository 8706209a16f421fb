// The signed-in user: the token lives in this tab's sessionStorage (and memory) only,
// never in a URL or localStorage. Signing out forgets it and everything loaded with it.

const KEY = "crm.console.session";
const listeners = new Set();
let current = load();

function load() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return stored && typeof stored.token === "string" ? stored : null;
  } catch {
    return null;
  }
}

export function session() {
  return current;
}

export function currentToken() {
  return current ? current.token : null;
}

export function role() {
  return current ? current.role : null;
}

/** Remember a signed-in user: {token, role, tenantId?, userId?}. */
export function remember(signedIn) {
  current = { ...signedIn };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  notify("signed-in");
}

/** Sign out: forget the token. (It stays valid on the server until an admin revokes it.) */
export function forget() {
  current = null;
  sessionStorage.removeItem(KEY);
  notify("signed-out");
}

/** The server refused the token (401): forget it and say why. */
export function expire() {
  current = null;
  sessionStorage.removeItem(KEY);
  notify("expired");
}

export function onSessionChange(listener) {
  listeners.add(listener);
}

function notify(reason) {
  for (const listener of listeners) listener(reason);
}
