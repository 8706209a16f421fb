"""The auditor's view of history: a tenant's stored events in log order, as they were
stored, with every personal field shown only as a ``sealed`` or ``erased`` marker.

The audit timeline read model says which positions are the tenant's (and about which
subject); the events themselves are read from the store, so an auditor sees what the ledger
hashes, not a projection of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from crypto.keystore import Keystore
from domain.base import TenantAggregate
from projections.access import access_rows, access_view
from projections.audit import event_type, is_tenant_position, timeline_positions
from projections.store import ReadModelStore
from service.crm import CRM
from service.errors import NotFound
from service.views import Page

# Event attributes that are never shown: credentials, and fields the envelope already gives.
HIDDEN = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "sealed",
    "token_hash",
    "password_hash",
    "actor",
    "tenant_id",
}


class Timeline:
    """Pages of a tenant's events, and whether a position is the tenant's."""

    def __init__(self, crm: CRM, read_models: ReadModelStore, keystore: Keystore) -> None:
        self.crm = crm
        self.read_models = read_models
        self.keystore = keystore

    def events(
        self,
        tenant_id: UUID,
        *,
        subject_id: UUID | None,
        after: int,
        as_of: datetime | None,
        limit: int,
    ) -> Page:
        """The tenant's events after ``after``: about one subject, by a time, if given."""
        positions = timeline_positions(
            self.read_models,
            tenant_id,
            subject_id=subject_id,
            after=after,
            as_of=as_of,
            limit=limit,
        )
        page = positions[:limit]
        items: list[dict[str, Any]] = []
        if page:
            wanted = set(page)
            notifications = self.crm.recorder.select_notifications(
                start=page[0], stop=page[-1], limit=page[-1] - page[0] + 1
            )
            erased: dict[UUID, bool] = {}
            for n in notifications:
                if n.id in wanted:
                    event = self.crm.mapper.to_domain_event(n)
                    items.append(self._shown(tenant_id, n.id, event, erased))
        return Page(items, [str(p) for p in positions])

    def _shown(
        self, tenant_id: UUID, position: int, event: Any, erased: dict[UUID, bool]
    ) -> dict[str, Any]:
        sealed: dict[str, str] = vars(event).get("sealed") or {}
        personal: dict[str, str] = {}
        if sealed and isinstance(event, TenantAggregate.Event):
            # Consents, activities, links and shares seal under the contact's key.
            subject = event.subject()
            if subject not in erased:
                erased[subject] = self.keystore.is_erased(tenant_id, subject)
            marker = "erased" if erased[subject] else "sealed"
            personal = {field: marker for field in sealed}
        return {
            "position": position,
            "type": event_type(event),
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "occurred_at": event.timestamp,
            "actor": event.actor,
            "data": {k: v for k, v in vars(event).items() if k not in HIDDEN},
            "personal": personal,
        }

    def require_own(self, tenant_id: UUID, position: int) -> None:
        """NotFound unless the event at ``position`` is the tenant's."""
        if not is_tenant_position(self.read_models, tenant_id, position):
            raise NotFound("no event of yours at that position")


class Trail:
    """The processing trail of a tenant: every recorded opening of its subjects' data."""

    def __init__(self, read_models: ReadModelStore) -> None:
        self.read_models = read_models

    def records(
        self,
        tenant_id: UUID,
        *,
        subject_id: UUID | None,
        actor: str | None,
        purpose: str | None,
        after: int,
        as_of: datetime | None,
        limit: int,
    ) -> Page:
        rows = access_rows(
            self.read_models,
            tenant_id,
            subject_id=subject_id,
            actor=actor,
            purpose=purpose,
            after=after,
            as_of=as_of,
            limit=limit,
        )
        return Page([access_view(row) for row in rows[:limit]], [str(r["position"]) for r in rows])
