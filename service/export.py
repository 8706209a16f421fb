"""The subject's export (access request): everything held about one contact, decrypted.

Machine-readable JSON: the contact's fields now and every change to them, consents and
policy acceptances, service data, linked accounts, shares (with the values handed over)
and the requests the subject made. Once the subject is erased there is nothing to export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import TenantAggregate
from domain.contact import PERSONAL_FIELDS, Contact
from domain.values import utc_text
from projections.access import access_rows, access_view
from projections.activities import activities_of
from projections.linked_accounts import linked_accounts_of
from projections.requests import find_requests
from projections.shares import find_shares
from projections.store import ReadModelStore
from service.views import (
    activity_views,
    consents_view,
    linked_account_views,
    request_views,
    share_view,
    shared_values,
)

if TYPE_CHECKING:
    from service.crm import CRM
    from service.disclosure import AccessLog

EXPORT_FORMAT = "crm.subject-export.v1"


def contact_history(crm: CRM, contact: Contact, access: AccessLog) -> list[dict[str, Any]]:
    """Each stored change to the contact, with the values it set opened."""
    tenant_id = UUID(contact.tenant_id)
    changes = []
    for event in crm.repository.event_store.get(contact.id):
        assert isinstance(event, TenantAggregate.Event)
        version = event.originator_version
        sealed = event.sealed if isinstance(event, Contact.Registered | Contact.Updated) else {}
        values = crm.open_sealed(tenant_id, contact.id, contact.id, version, sealed, access)
        changes.append(
            {
                "version": version,
                "type": type(event).__qualname__,
                "at": utc_text(event.timestamp),
                "actor": event.actor,
                "set": values or {},
                "cleared": list(event.cleared) if isinstance(event, Contact.Updated) else [],
            }
        )
    return changes


def subject_export(
    crm: CRM, store: ReadModelStore, tenant_id: UUID, contact_id: UUID, access: AccessLog
) -> dict[str, Any]:
    """The whole export; 410 once the contact is erased, 404 in another tenant. Its
    ``processing`` is the subject's trail: every recorded opening of the subject's data."""
    contact = crm.live_contact(tenant_id, contact_id)
    fields = crm.open_contact(contact, access)
    now = utc_text(crm.clock())
    shares = find_shares(store, tenant_id, contact_id=contact_id)
    shared = shared_values(crm, tenant_id, contact_id, shares, access)
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now,
        "contact": {
            "id": str(contact.id),
            "version": contact.version,
            "created_at": utc_text(contact.created_on),
            "updated_at": utc_text(contact.modified_on),
            **{field: fields.get(field) for field in PERSONAL_FIELDS},
            "age_unknown": "age" not in contact.fields,
        },
        "history": contact_history(crm, contact, access),
        "consents": consents_view(crm, store, tenant_id, contact_id, access),
        "activities": activity_views(
            crm, tenant_id, contact_id, activities_of(store, tenant_id, contact_id, 0, None), access
        ),
        "linked_accounts": linked_account_views(
            crm,
            tenant_id,
            contact_id,
            linked_accounts_of(store, tenant_id, contact_id, 0, None),
            access,
        ),
        "shares": [
            {**share_view(row), "shared": values}
            for row, values in zip(shares, shared, strict=True)
        ],
        "requests": [
            *request_views(store, find_requests(store, tenant_id, contact_id=contact_id), now)
        ],
        "processing": [
            access_view(row) for row in access_rows(store, tenant_id, subject_id=contact_id)
        ],
    }
