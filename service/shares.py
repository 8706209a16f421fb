"""Data shares with third parties: each step of the policy's procedure is a command."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.sealing import PersonalValue
from domain.share import DataShare
from service.errors import check_version, erased_is_gone

if TYPE_CHECKING:
    from service.crm import CRM


class Shares:
    """Request, approve (PIC), authorise, execute, revoke. Out of order: 409, nothing stored."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm

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
    ) -> DataShare:
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
        share, _ = self.crm.create(DataShare, tenant_id, share)
        return share

    def approve(
        self, tenant_id: UUID, share_id: UUID, actor: str, expected_version: int | None = None
    ) -> DataShare:
        share = self._share(tenant_id, share_id, expected_version)
        share.approve(actor=actor)
        self.crm.commit(share)
        return share

    def authorize(
        self,
        tenant_id: UUID,
        share_id: UUID,
        actor: str,
        *,
        agreement_ref: str,
        expires_at: datetime | None,
        expected_version: int | None = None,
    ) -> DataShare:
        share = self._share(tenant_id, share_id, expected_version)
        share.authorize(
            actor=actor, agreement_ref=agreement_ref, expires_at=expires_at, now=self.crm.clock()
        )
        self.crm.commit(share)
        return share

    def execute(
        self, tenant_id: UUID, share_id: UUID, actor: str, expected_version: int | None = None
    ) -> tuple[DataShare, dict[str, PersonalValue]]:
        """Share the contact's current values of the requested fields; return them."""
        share = self._share(tenant_id, share_id, expected_version)
        contact = self.crm.live_contact(tenant_id, share.contact_id)
        with erased_is_gone():
            shared = share.execute(
                actor=actor,
                values=self.crm.open_contact(contact),
                consents=self.crm.consents.record(tenant_id, share.contact_id),
                sealer=self.crm.sealer,
                now=self.crm.clock(),
            )
        self.crm.commit(share)
        return share, shared

    def revoke(
        self,
        tenant_id: UUID,
        share_id: UUID,
        actor: str,
        *,
        reason: str | None,
        expected_version: int | None = None,
    ) -> DataShare:
        share = self._share(tenant_id, share_id, expected_version)
        share.revoke(actor=actor, reason=reason)
        self.crm.commit(share)
        return share

    def _share(self, tenant_id: UUID, share_id: UUID, expected_version: int | None) -> DataShare:
        share = self.crm.owned(DataShare, tenant_id, share_id)
        check_version(share, expected_version)
        return share
