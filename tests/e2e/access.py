"""Who may call what: one row per operation of the OpenAPI document (API.md's "who" column).

The tenant-isolation sweep and the schemathesis run both read this table. An operation that
is in ``/openapi.json`` but not here fails the sweep: whoever adds an endpoint adds its row,
which makes them say who may call it and give a body the sweep can send.

Bodies may name the ids of the tenant under attack as ``{param}`` placeholders (for
example ``{"contact_id": "{contact_id}"}``): the sweep fills them with the first tenant's
ids, the way an attacker in the second tenant would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("admin", "agent", "pic", "privacy_officer", "auditor")
PLATFORM = "platform"  # the operator's CRM_ADMIN_TOKEN
PUBLIC = "public"  # no token at all


@dataclass(frozen=True)
class Access:
    """Who may call one operation, and a request body that passes its validation."""

    roles: frozenset[str]
    body: dict[str, Any] | None = field(default=None)

    @property
    def public(self) -> bool:
        return PUBLIC in self.roles


def allow(*roles: str, body: dict[str, Any] | None = None) -> Access:
    return Access(frozenset(roles), body)


ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/v1/tenants"): allow(PLATFORM, body={"name": "Sweep Tenant"}),
    ("POST", "/v1/users"): allow("admin", body={"full_name": "Sweep User", "role": "agent"}),
    ("POST", "/v1/sessions"): allow(
        PUBLIC,
        body={"tenant_id": "{tenant_id}", "email": "{user_email}", "password": "not-the-password"},
    ),
    ("DELETE", "/v1/users/{user_id}/tokens"): allow("admin"),
    ("POST", "/v1/contacts"): allow("admin", "agent", body={"full_name": "Sweep Contact"}),
    ("GET", "/v1/contacts"): allow("admin", "agent", "privacy_officer"),
    ("GET", "/v1/contacts/{contact_id}"): allow("admin", "agent", "privacy_officer"),
    ("PATCH", "/v1/contacts/{contact_id}"): allow("admin", "agent", body={"job_title": "Sweep"}),
    ("POST", "/v1/contacts/{contact_id}/erasure"): allow(
        "privacy_officer", body={"reason": "isolation sweep"}
    ),
    ("GET", "/v1/erasures/{erasure_id}"): allow("privacy_officer", "auditor"),
    ("GET", "/v1/audit/events"): allow("auditor"),
    ("GET", "/healthz"): allow(PUBLIC),
    ("GET", "/readyz"): allow(PUBLIC),
    ("GET", "/metrics"): allow(PUBLIC),
}

# Lists whose body is a bare JSON array rather than a page: fixed catalogues only.
CATALOGUES = {("GET", "/v1/purposes")}
