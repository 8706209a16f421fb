"""Service data (activities) and linked third-party accounts: the commands."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from domain.activity import Activity
from domain.linked_account import LinkedAccount
from service.consents import Consents
from service.crm import CRM, Committed
from service.errors import NotFound


class ServiceData:
    """Record what a subject did; link and unlink their third-party accounts."""

    def __init__(self, crm: CRM, consents: Consents) -> None:
        self.crm = crm
        self.consents = consents

    def record_activity(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        *,
        kind: str,
        occurred_at: datetime | None,
        details: Mapping[str, object],
        activity_id: UUID | None = None,
    ) -> Committed[Activity]:
        self.crm.live_contact(tenant_id, contact_id)
        activity = Activity.record(
            tenant_id=tenant_id,
            contact_id=contact_id,
            actor=actor,
            kind=kind,
            occurred_at=occurred_at,
            details=details,
            sealer=self.crm.sealer,
            now=self.crm.clock(),
            activity_id=activity_id,
        )
        return self.crm.create(Activity, tenant_id, activity)

    def link_account(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        *,
        provider: str,
        handle: str,
        link_id: UUID | None = None,
    ) -> Committed[LinkedAccount]:
        """Link an account: refused (409) without a current ``third_party_linking`` consent."""
        self.crm.live_contact(tenant_id, contact_id)
        link = LinkedAccount.link(
            tenant_id=tenant_id,
            contact_id=contact_id,
            actor=actor,
            provider=provider,
            handle=handle,
            consents=self.consents.record(tenant_id, contact_id),
            sealer=self.crm.sealer,
            link_id=link_id,
        )
        return self.crm.create(LinkedAccount, tenant_id, link)

    def unlink_account(
        self, tenant_id: UUID, contact_id: UUID, link_id: UUID, actor: str
    ) -> Committed[LinkedAccount]:
        link = self.crm.owned(LinkedAccount, tenant_id, link_id)
        if link.contact_id != contact_id:
            raise NotFound("no linked account with that id for this contact")
        link.unlink(actor=actor)
        return self.crm.committed(link, link)
