"""The data the console is tried on, made through the public API of a real server.

Names and addresses are made up for the tests (``example.id``); passwords and tokens stay
in memory, never in a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.harness import wait_until

PASSWORD = "kata-sandi-konsol-uji-1"
XSS_NAME = "<img src=x onerror=alert(1)>"


@dataclass
class Tenant:
    """One tenant: its id, a token per role, and the sign-in emails of password users."""

    id: str
    tokens: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


class World:
    """Helpers over an ``httpx.Client`` pointed straight at the server (not the proxy)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(
        self, method: str, path: str, tenant: Tenant | None, caller: str, /, **body: Any
    ) -> Any:
        """``method path`` as the tenant's ``caller`` (a role), or as the platform."""
        headers = tenant.auth(caller) if tenant else {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = self.client.request(method, path, json=body or None, headers=headers)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def covered(self, tenant: Tenant, position: int) -> None:
        """Wait until the latest signed checkpoint covers the event at ``position`` (the
        server signs one within a bounded delay): before that, its inclusion proof is a
        problem answer, which the console rightly shows as an error, not a verdict."""
        path = f"/v1/audit/proofs/inclusion?position={position}"
        headers = tenant.auth("auditor")
        wait_until(
            lambda: self.client.get(path, headers=headers).is_success,
            15,
            f"a checkpoint covering position {position}",
        )

    def tenant(self, name: str) -> Tenant:
        created = self.call("POST", "/v1/tenants", None, "platform", name=name)
        tenant = Tenant(created["id"], {"admin": created["admin_token"]})
        for role in ("agent", "pic", "privacy_officer", "auditor"):
            email = f"{role.replace('_', '.')}@{name.lower().replace(' ', '-')}.example.id"
            user = self.call(
                "POST", "/v1/users", tenant, "admin",
                full_name=f"Pengguna {role}", email=email, role=role, password=PASSWORD,
            )  # fmt: skip
            tenant.tokens[role], tenant.emails[role] = user["token"], email
        self.call("POST", "/v1/policies", tenant, "admin", version="2026-01")
        return tenant

    def contact(self, tenant: Tenant, **fields: Any) -> dict[str, Any]:
        contact: dict[str, Any] = self.call("POST", "/v1/contacts", tenant, "agent", **fields)
        return contact

    def story(self, tenant: Tenant, contact_id: str) -> None:
        """Consents, service data, a linked account and a share carried out, for one subject."""
        base = f"/v1/contacts/{contact_id}"
        for purpose in ("marketing", "third_party_linking", "third_party_sharing"):
            self.call("POST", f"{base}/consents", tenant, "agent", purpose=purpose, granted=True,
                      source="formulir web")  # fmt: skip
        self.call("POST", f"{base}/consents", tenant, "agent", purpose="marketing", granted=False)
        self.call("POST", f"{base}/activities", tenant, "agent", kind="page_view",
                  ip="198.51.100.7", device="ponsel", location="Bandung")  # fmt: skip
        self.call("POST", f"{base}/linked-accounts", tenant, "agent", provider="telegram",
                  handle="@contoh_subjek")  # fmt: skip
        share = self.call("POST", "/v1/shares", tenant, "agent", contact_id=contact_id,
                          recipient="Mitra Logistik", purpose="third_party_sharing",
                          fields=["email"])  # fmt: skip
        self.call("POST", f"/v1/shares/{share['id']}/approve", tenant, "pic")
        self.call("POST", f"/v1/shares/{share['id']}/authorize", tenant, "admin",
                  agreement_ref="PKS-2026-01")  # fmt: skip
        self.call("POST", f"/v1/shares/{share['id']}/execute", tenant, "agent")

    def request(self, tenant: Tenant, contact_id: str, kind: str) -> dict[str, Any]:
        request: dict[str, Any] = self.call(
            "POST", "/v1/requests", tenant, "privacy_officer",
            contact_id=contact_id, kind=kind, requested_by="subject",
        )  # fmt: skip
        return request

    def keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = self.client.get("/v1/keys").json()
        return keys
