"""Data shares with third parties: each step of the policy's procedure is a command."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from domain.purposes import purpose as catalogue_purpose
from domain.sealing import PersonalValue
from domain.share import DataShare
from service.consents import Consents
from service.crm import CRM, Committed
from service.disclosure import AccessLog
from service.errors import check_version


class Execution(NamedTuple):
    """An executed share and the values it handed over."""

    share: DataShare
    shared: dict[str, PersonalValue]


class Shares:
    """Request, approve (PIC), authorise, execute, revoke. Out of order: 409, nothing stored."""

    def __init__(self, crm: CRM, consents: Consents) -> None:
        self.crm = crm
        self.consents = consents

    def request(
        self,
        tenant_id: UUID,
        actor: str,
        *,
        contact_id: UUID,
        recipient: str,
        purpose: str,
        fields: list[str],
        share_id: UUID | None = None,
    ) -> Committed[DataShare]:
        self.crm.live_contact(tenant_id, contact_id)
        share = DataShare.request(
            tenant_id=tenant_id,
            contact_id=contact_id,
            actor=actor,
            recipient=recipient,
            purpose=purpose,
            fields=fields,
            share_id=share_id,
        )
        return self.crm.create(DataShare, tenant_id, share)

    def approve(
        self, tenant_id: UUID, share_id: UUID, actor: str, expected_version: int | None = None
    ) -> Committed[DataShare]:
        share = self._share(tenant_id, share_id, expected_version)
        share.approve(actor=actor)
        return self.crm.committed(share, share)

    def authorize(
        self,
        tenant_id: UUID,
        share_id: UUID,
        actor: str,
        *,
        agreement_ref: str,
        expires_at: datetime | None,
        expected_version: int | None = None,
    ) -> Committed[DataShare]:
        share = self._share(tenant_id, share_id, expected_version)
        share.authorize(
            actor=actor, agreement_ref=agreement_ref, expires_at=expires_at, now=self.crm.clock()
        )
        return self.crm.committed(share, share)

    def execute(
        self,
        tenant_id: UUID,
        share_id: UUID,
        actor: str,
        access: AccessLog,
        expected_version: int | None = None,
    ) -> Committed[Execution]:
        """Share the contact's current values of the requested fields; return them. The
        values handed over are opened for the share's purpose, and recorded as such."""
        share = self._share(tenant_id, share_id, expected_version)
        contact = self.crm.live_contact(tenant_id, share.contact_id)
        consents = self.consents.record(tenant_id, share.contact_id)
        share.check_executable(consents, self.crm.clock())  # the procedure, before any opening
        access.require(contact.id)  # sharing itself, at the decision point
        access.purpose = catalogue_purpose(share.purpose)
        handed = {f: sealed for f, sealed in contact.fields.items() if f in share.fields}
        shared = share.execute(
            actor=actor,
            # Only the fields handed over are opened, so the record names exactly those.
            values=self.crm.sealer.open_fields(tenant_id, contact.id, handed, access),
            consents=consents,
            sealer=self.crm.sealer,
            now=self.crm.clock(),
        )
        return self.crm.committed(Execution(share, shared), share)

    def revoke(
        self,
        tenant_id: UUID,
        share_id: UUID,
        actor: str,
        *,
        reason: str | None,
        expected_version: int | None = None,
    ) -> Committed[DataShare]:
        share = self._share(tenant_id, share_id, expected_version)
        share.revoke(actor=actor, reason=reason)
        return self.crm.committed(share, share)

    def _share(self, tenant_id: UUID, share_id: UUID, expected_version: int | None) -> DataShare:
        share = self.crm.owned(DataShare, tenant_id, share_id)
        check_version(share, expected_version)
        return share
