"""Exports for uses that rest on consent: the marketing audience, training data, and the
companies that may be named in promotion. Each holds only subjects whose consent for its
purpose is current (granted, not since withdrawn, not erased): nobody else is ever in it,
and each is opened through the decision point, so restriction and objection apply too.

Where the "company name and logo" of promotion come from: the contacts' ``company`` field
(the tenant's customers' companies, each one the personal data of its contact) — the
tenant's own name is the tenant's, not a subject's, and needs no consent.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any
from uuid import UUID

from crypto.errors import KeyDestroyed
from projections.consents import consenting_activities, consenting_contacts
from projections.contacts import sealed_fields
from projections.store import ReadModelStore
from service.crm import CRM
from service.disclosure import AccessLog
from service.views import Page, activity_views, contact_page


class Exports:
    """Consent-filtered exports, each opened for its own purpose."""

    def __init__(self, crm: CRM, read_models: ReadModelStore) -> None:
        self.crm = crm
        self.read_models = read_models

    def audience(self, tenant_id: UUID, *, after: str, limit: int, access: AccessLog) -> Page:
        """Contacts consenting to the access's purpose (marketing), opened."""
        purpose = access.purpose.code
        rows = consenting_contacts(self.read_models, tenant_id, purpose, after, limit)
        page = contact_page(self.crm, tenant_id, rows, limit, access)
        return page._replace(items=[item for item in page.items if "refused" not in item])

    def training(self, tenant_id: UUID, *, after: int, limit: int, access: AccessLog) -> Page:
        """Service data of contacts consenting to ``training_data``, in log order."""
        rows = consenting_activities(self.read_models, tenant_id, access.purpose.code, after, limit)
        page = rows[:limit]
        refused = access.screen([UUID(row["contact_id"]) for row in page])
        items: list[dict[str, Any]] = []
        for contact, group in groupby(page, key=lambda row: row["contact_id"]):
            if UUID(contact) not in refused:
                items += activity_views(self.crm, tenant_id, UUID(contact), list(group), access)
        return Page(items, [str(row["position"]) for row in rows])

    def promotion(self, tenant_id: UUID, *, after: str, limit: int, access: AccessLog) -> Page:
        """The companies of contacts consenting to ``promotional_logo_use``: only that field
        is opened."""
        rows = consenting_contacts(self.read_models, tenant_id, access.purpose.code, after, limit)
        page = rows[:limit]
        refused = access.screen([UUID(row["id"]) for row in page])
        items = []
        for row in page:
            cells = {f: c for f, c in sealed_fields(row).items() if f == "company"}
            if UUID(row["id"]) in refused or not cells:
                continue
            try:
                opened = self.crm.sealer.open_fields(tenant_id, UUID(row["id"]), cells, access)
            except KeyDestroyed:
                continue  # erased after the page was read
            items.append({"contact_id": row["id"], "company": opened["company"]})
        return Page(items, [row["id"] for row in rows])
