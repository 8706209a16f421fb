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
    ("POST", "/v1/erasures/{erasure_id}/cancel"): allow("privacy_officer"),
    ("GET", "/v1/purposes"): allow(*ROLES),
    ("POST", "/v1/policies"): allow("admin", body={"version": "sweep-1"}),
    ("GET", "/v1/policies"): allow(*ROLES),
    ("POST", "/v1/contacts/{contact_id}/consents"): allow(
        "admin", "agent", body={"purpose": "marketing", "granted": True}
    ),
    ("GET", "/v1/contacts/{contact_id}/consents"): allow(
        "admin", "agent", "privacy_officer", "auditor"
    ),
    ("POST", "/v1/contacts/{contact_id}/policy-acceptances"): allow(
        "admin", "agent", body={"source": "sweep"}
    ),
    ("POST", "/v1/contacts/{contact_id}/activities"): allow(
        "admin", "agent", body={"kind": "page_view", "ip": "198.51.100.9"}
    ),
    ("GET", "/v1/contacts/{contact_id}/activities"): allow("admin", "agent", "privacy_officer"),
    ("POST", "/v1/contacts/{contact_id}/linked-accounts"): allow(
        "admin", "agent", body={"provider": "telegram", "handle": "@sweep_handle"}
    ),
    ("GET", "/v1/contacts/{contact_id}/linked-accounts"): allow(
        "admin", "agent", "privacy_officer"
    ),
    ("DELETE", "/v1/contacts/{contact_id}/linked-accounts/{link_id}"): allow("admin", "agent"),
    ("POST", "/v1/shares"): allow(
        "admin",
        "agent",
        body={
            "contact_id": "{contact_id}",
            "recipient": "Mitra Sweep",
            "purpose": "third_party_sharing",
            "fields": ["email"],
        },
    ),
    ("GET", "/v1/shares"): allow("admin", "agent", "pic", "auditor"),
    ("GET", "/v1/shares/{share_id}"): allow("admin", "agent", "pic", "auditor"),
    ("POST", "/v1/shares/{share_id}/approve"): allow("pic"),
    ("POST", "/v1/shares/{share_id}/authorize"): allow(
        "admin", body={"agreement_ref": "PKS-SWEEP-1"}
    ),
    ("POST", "/v1/shares/{share_id}/execute"): allow("admin", "agent"),
    ("POST", "/v1/shares/{share_id}/revoke"): allow("admin", "pic", body={"reason": "sweep"}),
    ("POST", "/v1/requests"): allow(
        "admin",
        "privacy_officer",
        body={"contact_id": "{contact_id}", "kind": "access", "requested_by": "subject"},
    ),
    ("GET", "/v1/requests"): allow("admin", "privacy_officer", "auditor"),
    ("GET", "/v1/requests/{request_id}"): allow("admin", "privacy_officer", "auditor"),
    ("POST", "/v1/requests/{request_id}/start"): allow("admin", "privacy_officer"),
    ("POST", "/v1/requests/{request_id}/verify"): allow(
        "admin", "privacy_officer", body={"method": "document"}
    ),
    ("POST", "/v1/requests/{request_id}/complete"): allow("admin", "privacy_officer"),
    ("POST", "/v1/requests/{request_id}/reject"): allow(
        "admin", "privacy_officer", body={"reason": "sweep"}
    ),
    ("GET", "/v1/exports/marketing"): allow("admin", "agent"),
    ("GET", "/v1/exports/training"): allow("admin", "agent"),
    ("GET", "/v1/exports/promotion"): allow("admin", "agent"),
    ("GET", "/v1/audit/access"): allow("auditor", "privacy_officer"),
    ("GET", "/v1/contacts/{contact_id}/export"): allow("privacy_officer"),
    ("GET", "/v1/audit/events"): allow("auditor"),
    ("GET", "/v1/audit/contacts/{contact_id}/state"): allow("auditor"),
    ("GET", "/v1/audit/verify"): allow("auditor"),
    ("GET", "/v1/audit/checkpoints/latest"): allow("auditor"),
    ("GET", "/v1/audit/proofs/inclusion"): allow("auditor"),
    ("GET", "/v1/audit/proofs/consistency"): allow("auditor"),
    ("GET", "/v1/keys"): allow(PUBLIC),
    ("GET", "/healthz"): allow(PUBLIC),
    ("GET", "/readyz"): allow(PUBLIC),
    ("GET", "/metrics"): allow(PUBLIC),
}

# Lists whose body is a bare JSON array rather than a page: fixed catalogues only.
CATALOGUES = {("GET", "/v1/purposes")}
