"""Contacts: register, read, update. Erasure is its own group (``service/erasure.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from domain.contact import Contact
from service.crm import CRM, Committed


class Contacts:
    """The data subjects of a tenant's CRM; every personal field sealed under their key."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def register(
        self,
        tenant_id: UUID,
        actor: str,
        details: Mapping[str, object],
        contact_id: UUID | None = None,
    ) -> Committed[Contact]:
        """A new contact, sealed under a new key; at most once per id (see ``CRM.create``)."""
        session = self.crm.sealer.session()
        contact = Contact.register(
            tenant_id=tenant_id, actor=actor, details=details, sealer=session, contact_id=contact_id
        )
        key_records = self.crm.key_records(session, actor, contact.id)
        return self.crm.create(Contact, tenant_id, contact, *key_records)

    def update(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        changes: Mapping[str, object],
        expected_version: int | None,
    ) -> Committed[Contact]:
        """Replace or clear fields; ``expected_version`` (If-Match) guards lost updates."""
        contact = self.crm.live_contact(tenant_id, contact_id)
        contact.update(
            actor=actor, changes=changes, sealer=self.crm.sealer, expected_version=expected_version
        )
        return self.crm.committed(contact, contact)

    def contact(self, tenant_id: UUID, contact_id: UUID) -> Contact:
        return self.crm.contact(tenant_id, contact_id)
