"""Contacts: register, read, update. Erasure is its own group (``service/erasure.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from crypto.blind_index import BlindIndex
from domain.access import AccessRecord
from domain.contact import Contact
from domain.errors import SubjectErased
from domain.values import normalise_email, normalise_phone
from projections.contacts import contact_row, contact_rows
from projections.limits import LIMITS_COLUMN, parsed_limits
from projections.store import ReadModelStore
from service.crm import CRM, Committed
from service.disclosure import AccessLog
from service.errors import NotFound
from service.views import Page, contact_page, contact_view


class Contacts:
    """The data subjects of a tenant's CRM; every personal field sealed under their key."""

    def __init__(self, crm: CRM, read_models: ReadModelStore, blind_index: BlindIndex) -> None:
        self.crm = crm
        self.read_models = read_models
        self.blind_index = blind_index

    def register(
        self,
        tenant_id: UUID,
        actor: str,
        details: Mapping[str, object],
        contact_id: UUID | None = None,
        access: AccessLog | None = None,
    ) -> Committed[Contact]:
        """A new contact, sealed under a new key; at most once per id (see ``CRM.create``).
        With ``access``, the record of the answer's values commits with the contact."""
        session = self.crm.sealer.session()
        contact = Contact.register(
            tenant_id=tenant_id, actor=actor, details=details, sealer=session, contact_id=contact_id
        )
        key_records = self.crm.key_records(session, actor, contact.id)
        owed = self._owed(access, contact)
        committed = self.crm.create(Contact, tenant_id, contact, *key_records, *owed)
        if access is not None and committed.value is contact:  # not a re-run's earlier one
            access.keep()
        return committed

    def update(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        changes: Mapping[str, object],
        expected_version: int | None,
        access: AccessLog | None = None,
    ) -> Committed[Contact]:
        """Replace or clear fields; ``expected_version`` (If-Match) guards lost updates.
        With ``access``, the purpose is decided for the contact first (409), and the record
        of the answer's values commits with the change."""
        contact = self.crm.live_contact(tenant_id, contact_id)
        if access is not None:
            access.require(contact_id)
        contact.update(
            actor=actor, changes=changes, sealer=self.crm.sealer, expected_version=expected_version
        )
        committed = self.crm.committed(contact, contact, *self._owed(access, contact))
        if access is not None:
            access.keep()
        return committed

    @staticmethod
    def _owed(access: AccessLog | None, contact: Contact) -> list[AccessRecord]:
        """The answer's record, to commit with the command (none without ``access``)."""
        if access is None:
            return []
        record = access.owed_by_command(contact.id, list(contact.fields))
        return [] if record is None else [record]

    def contact(self, tenant_id: UUID, contact_id: UUID) -> Contact:
        return self.crm.contact(tenant_id, contact_id)

    def read(self, tenant_id: UUID, contact_id: UUID, access: AccessLog) -> dict[str, Any]:
        """The contact as its read model holds it, opened: one row by primary key instead of
        a replay of its events (the row is written with each of them, see
        :mod:`projections.in_transaction`). Another tenant's is NotFound, erased SubjectErased."""
        row = contact_row(self.read_models, tenant_id, contact_id)
        if row is None:
            raise NotFound("no contact with that id")
        self._know_limits(access, [row])
        view = None if row["erased"] else contact_view(self.crm, tenant_id, row, access)
        if view is None:  # erased, or its key destroyed since the row was read
            raise SubjectErased("the contact was erased")
        return view

    def find(
        self,
        tenant_id: UUID,
        *,
        email: str | None,
        phone: str | None,
        after: str,
        limit: int,
        access: AccessLog,
    ) -> Page:
        """Live contacts in id order, matching the normalised email and/or phone exactly
        (through their blind indexes), opened."""
        rows = contact_rows(
            self.read_models,
            tenant_id,
            email_index=None if email is None else self._index(tenant_id, "email", email),
            phone_index=None if phone is None else self._index(tenant_id, "phone", phone),
            after=after,
            limit=limit,
        )
        self._know_limits(access, rows)
        return contact_page(self.crm, tenant_id, rows, limit, access)

    @staticmethod
    def _know_limits(access: AccessLog, rows: list[dict[str, Any]]) -> None:
        access.know_limits({UUID(r["id"]): parsed_limits(r[LIMITS_COLUMN]) for r in rows})

    def _index(self, tenant_id: UUID, kind: str, value: str) -> str:
        normal = normalise_email(value) if kind == "email" else normalise_phone(value)
        return self.blind_index.digest(tenant_id, kind, normal)
