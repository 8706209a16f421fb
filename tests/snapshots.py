"""Read models as comparable values, and a history of commands that exercises every one."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.runner import Projection
from projections.store import ReadModelStore
from service.crm import CRM

Snapshot = dict[str, list[tuple[tuple[str, Any], ...]]]

# Distinctive values: any hit in a dump or on the topic is a leak, never a coincidence.
PERSONAL = {
    "full_name": "Sekar Ayu Purbaningrum",
    "email": "sekar.purbaningrum@surel-pribadi.id",
    "phone": "+6281277334455",
    "company": "PT Tenun Ikat Sumba Lestari",
    "job_title": "Koordinator Gudang Barat",
}


def snapshot(store: ReadModelStore, projections: Sequence[Projection]) -> Snapshot:
    """Every row of every read-model table, in a canonical order."""
    tables: Snapshot = {}
    for projection in projections:
        for table in projection.tables:
            rows = [tuple(sorted(r.items())) for r in store.query(f"SELECT * FROM {table}")]
            tables[table] = sorted(rows, key=repr)
    return tables


def write_history(crm: CRM, rng: random.Random, commands: int) -> list[UUID]:
    """Tenants, users, contacts, updates and erasures, chosen by ``rng``; returns the
    contact ids. Every contact carries the :data:`PERSONAL` values (numbered)."""
    tenant, _ = crm.create_tenant("Toko Sejahtera")
    crm.register_user(tenant.id, "platform", "agent", {"full_name": PERSONAL["full_name"]}, None)
    contacts: list[UUID] = []
    live: list[UUID] = []
    for i in range(commands):
        roll = rng.random()
        if roll < 0.5 or not live:
            details = {k: f"{v}" for k, v in PERSONAL.items()}
            details["email"] = f"{i}.{PERSONAL['email']}"
            contact, _ = crm.register_contact(tenant.id, "agent", details)
            contacts.append(contact.id)
            live.append(contact.id)
        elif roll < 0.9:
            changes = {"job_title": f"{PERSONAL['job_title']} {i}", "age": 20 + i % 50}
            crm.update_contact(tenant.id, rng.choice(live), "agent", changes, None)
        else:
            victim = live.pop(rng.randrange(len(live)))
            crm.erase_contact(tenant.id, victim, "officer", "subject asked", None)
    return contacts
