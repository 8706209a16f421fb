"""Read models as comparable values, and a history of commands that exercises every one."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.runner import ReadModelProjection
from projections.store import ReadModelStore
from service.bootstrap import Service
from tests.witness import access_for

Snapshot = dict[str, list[tuple[tuple[str, Any], ...]]]

# Distinctive values: any hit in a dump or on the topic is a leak, never a coincidence.
PERSONAL = {
    "full_name": "Sekar Ayu Purbaningrum",
    "email": "sekar.purbaningrum@surel-pribadi.id",
    "phone": "+6281277334455",
    "company": "PT Tenun Ikat Sumba Lestari",
    "job_title": "Koordinator Gudang Barat",
}


def snapshot(store: ReadModelStore, projections: Sequence[ReadModelProjection]) -> Snapshot:
    """Every row of every read-model table, in a canonical order."""
    tables: Snapshot = {}
    for projection in projections:
        for table in projection.tables:
            rows = [tuple(sorted(r.items())) for r in store.query(f"SELECT * FROM {table}")]
            tables[table] = sorted(rows, key=repr)
    return tables


def write_history(service: Service, rng: random.Random, commands: int) -> list[UUID]:
    """Tenants, users, contacts, updates and erasures, chosen by ``rng``, after one pass
    through the privacy-policy domain (policy, consents, activity, link, share, request) so
    every read model holds rows; returns the contact ids. Every contact carries the
    :data:`PERSONAL` values (numbered)."""
    tenant, _ = service.tenants.create("Toko Sejahtera").value
    service.tenants.register_user(
        tenant.id, "platform", "agent", {"full_name": PERSONAL["full_name"]}, None
    )
    first = _privacy_domain(service, tenant.id)
    contacts: list[UUID] = [first]
    live: list[UUID] = [first]
    for i in range(commands):
        roll = rng.random()
        if roll < 0.5 or not live:
            details = {k: f"{v}" for k, v in PERSONAL.items()}
            details["email"] = f"{i}.{PERSONAL['email']}"
            contact, _ = service.contacts.register(tenant.id, "agent", details)
            contacts.append(contact.id)
            live.append(contact.id)
        elif roll < 0.9:
            changes = {"job_title": f"{PERSONAL['job_title']} {i}", "age": 20 + i % 50}
            service.contacts.update(tenant.id, rng.choice(live), "agent", changes, None)
        else:
            victim = live.pop(rng.randrange(len(live)))
            service.erasures.erase(tenant.id, victim, "officer", "subject asked", None)
    return contacts


def _privacy_domain(service: Service, tenant_id: UUID) -> UUID:
    first, _ = service.contacts.register(tenant_id, "agent", dict(PERSONAL))
    service.consents.publish_policy(
        tenant_id,
        "admin",
        version="2026-01",
        effective_at=None,
        document_url=None,
        document_sha256=None,
    )
    for purpose in ("third_party_linking", "third_party_sharing", "marketing"):
        service.consents.decide(
            tenant_id,
            first.id,
            "agent",
            purpose=purpose,
            granted=True,
            policy_version=None,
            source="formulir",
            access=access_for(service, tenant_id, "account_management"),
        )
    service.consents.accept_policy(tenant_id, first.id, "agent", policy_version=None, source=None)
    service.service_data.record_activity(
        tenant_id,
        first.id,
        "agent",
        kind="page_view",
        occurred_at=None,
        details={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    )
    service.service_data.link_account(
        tenant_id, first.id, "agent", provider="telegram", handle="@sekar_ayu"
    )
    share = service.shares.request(
        tenant_id,
        "agent",
        contact_id=first.id,
        recipient="Mitra Logistik",
        purpose="third_party_sharing",
        fields=["email"],
    ).value
    service.shares.approve(tenant_id, share.id, "pic")
    service.shares.authorize(
        tenant_id, share.id, "admin", agreement_ref="PKS-2026-01", expires_at=None
    )
    service.runner.catch_up()  # the decision point reads consents from the read models
    sharing = access_for(service, tenant_id, "third_party_sharing")
    service.shares.execute(tenant_id, share.id, "agent", sharing)
    service.record_access(sharing)  # what the execution handed over, in the trail
    service.requests.receive(
        tenant_id,
        "officer",
        contact_id=first.id,
        kind="access",
        requested_by="subject",
        subject_is_minor=False,
    )
    objection = service.requests.receive(
        tenant_id,
        "officer",
        contact_id=first.id,
        kind="objection",
        requested_by="subject",
        subject_is_minor=False,
        purposes=["training_data"],
    ).value
    service.requests.verify(tenant_id, objection.id, "officer", method="otp", note="kode 4411")
    service.requests.start(tenant_id, objection.id, "officer")
    answering = access_for(service, tenant_id, "subject_request")
    service.requests.complete(tenant_id, objection.id, "officer", answering)
    return first.id
