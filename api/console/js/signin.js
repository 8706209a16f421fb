// Signing in: tenant id, email and password (POST /v1/sessions), or a token pasted in.
// A pasted token's role is found by asking what it may read, never by decoding it.

import { api, ApiError } from "./api.js";
import { errorBox, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { remember } from "./session.js";

const NO_SUCH_CONTACT = "00000000-0000-4000-8000-000000000000";

/** The role a token has, from three reads that open no personal data. */
export async function probeRole(token) {
  const status = async (path) => {
    try {
      return (await api(path, { token })).status;
    } catch (error) {
      if (error instanceof ApiError) return error.status;
      throw error;
    }
  };
  const checkpoint = await status("/v1/audit/checkpoints/latest");
  if (checkpoint === 401) throw new ApiError(401, { detail: t("signin.badToken") });
  if (checkpoint === 200 || checkpoint === 404) return "auditor";
  if ((await status(`/v1/contacts/${NO_SUCH_CONTACT}/export`)) === 404) return "privacy_officer";
  if ((await status("/v1/requests?limit=1")) === 200) return "admin";
  return "other";
}

function labelled(label, input) {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

function passwordForm(message) {
  const tenant = h("input", { type: "text", name: "tenant", autocomplete: "organization", required: true, spellcheck: false });
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card", attrs: { id: "signin-password", novalidate: true } },
    h("h2", { text: t("signin.withPassword") }),
    labelled(t("signin.tenant"), tenant),
    labelled(t("signin.email"), email),
    labelled(t("signin.password"), password),
    h("button", { type: "submit", text: t("signin.submit") }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await attempt(form, message, async () => {
      const { body } = await api("/v1/sessions", {
        method: "POST", auth: false,
        body: { tenant_id: tenant.value.trim(), email: email.value.trim(), password: password.value },
      });
      password.value = "";
      remember({ token: body.token, role: body.role, userId: body.user_id, tenantId: tenant.value.trim() });
    });
  });
  return form;
}

function tokenForm(message) {
  const token = h("input", { type: "password", name: "token", autocomplete: "off", required: true, spellcheck: false });
  const form = h("form", { class: "card", attrs: { id: "signin-token", novalidate: true } },
    h("h2", { text: t("signin.withToken") }),
    labelled(t("signin.token"), token),
    h("button", { type: "submit", text: t("signin.useToken") }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await attempt(form, message, async () => {
      const value = token.value.trim();
      const found = await probeRole(value);
      token.value = "";
      remember({ token: value, role: found });
    });
  });
  return form;
}

async function attempt(form, message, action) {
  const button = form.querySelector("button");
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
  fill(message);
  try {
    await action();
  } catch (error) {
    const text = error instanceof ApiError && error.status === 401 ? t("signin.failed") : null;
    fill(message, text ? h("p", { class: "error", attrs: { role: "alert" }, text }) : errorBox(error));
  } finally {
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

export function renderSignIn(root, notice) {
  const message = h("div", { attrs: { id: "signin-message" } });
  fill(root,
    h("h1", { text: t("signin.title") }),
    h("p", { class: "lead", text: t("signin.lead") }),
    notice ? h("p", { class: "warning", attrs: { role: "status" }, text: notice }) : null,
    message,
    h("div", { class: "grid-2" }, passwordForm(message), tokenForm(message)),
    h("p", { class: "muted", text: t("signin.storage") }),
  );
}
