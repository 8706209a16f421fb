"""Replay: a contact's state, or a whole tenant's, as it stood at any past moment.

Personal fields are masked (``sealed``, or ``erased`` once the key is gone): auditors see
the shape of history, never its content. Tenants stream contact by contact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.contact import Contact
from projections.audit import contacts_registered_by
from projections.store import ReadModelStore
from service.crm import CRM
from service.errors import NotFound

PAGE = 500


def _events_until(crm: CRM, contact_id: UUID, as_of: datetime) -> int:
    """The version of the contact at ``as_of``: how many of its events happened by then."""
    version = 0
    for stored in crm.recorder.select_events(contact_id):
        event: Any = crm.mapper.to_domain_event(stored)
        if event.timestamp > as_of:
            break
        version = event.originator_version
    return version


def contact_state(crm: CRM, tenant_id: UUID, contact_id: UUID, as_of: datetime) -> dict[str, Any]:
    """The masked state of one contact at ``as_of``; 404 if it did not exist yet."""
    crm.contact(tenant_id, contact_id)  # scoping: 404 for another tenant's id
    version = _events_until(crm, contact_id, as_of)
    if version == 0:
        raise NotFound("the contact did not exist at that time")
    contact = crm.load(contact_id, version=version)
    assert isinstance(contact, Contact)
    marker = "erased" if crm.keystore.is_erased(tenant_id, contact_id) else "sealed"
    return {
        "id": str(contact_id),
        "as_of": as_of.isoformat(),
        "version": contact.version,
        "erased": contact.erased,
        "created_at": contact.created_on.isoformat(),
        "updated_at": contact.modified_on.isoformat(),
        "fields": {field: marker for field in sorted(contact.fields)},
    }


def tenant_states(
    crm: CRM, read_models: ReadModelStore, tenant_id: UUID, as_of: datetime
) -> Iterator[dict[str, Any]]:
    """Every contact of the tenant that existed at ``as_of``, one at a time (constant memory)."""
    after = ""
    while True:
        ids = contacts_registered_by(read_models, tenant_id, as_of, after, PAGE)
        for contact_id in ids:
            yield contact_state(crm, tenant_id, UUID(contact_id), as_of)
        if len(ids) < PAGE:
            return
        after = ids[-1]
