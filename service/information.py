"""The answer to an information request (UU PDP Pasal 5, 21): what is held about the
subject, for which purposes and on which basis, kept how long, and shared with whom.

Field names, purpose codes, recipients and dates only: it says *what* is held, never the
values (those are the access request's export), so it opens nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from domain.purposes import CATALOGUE
from domain.values import utc_text
from projections.activities import activities_of
from projections.consents import current_consents
from projections.limits import OBJECTED, RESTRICTED, limits_of
from projections.linked_accounts import linked_accounts_of
from projections.shares import find_shares
from projections.store import ReadModelStore

if TYPE_CHECKING:
    from domain.request import SubjectRequest
    from service.crm import CRM

INFORMATION_FORMAT = "crm.subject-information.v1"
RETENTION_NOT_SET = "not set"  # until retention periods are configured


def subject_information(
    crm: CRM, store: ReadModelStore, tenant_id: UUID, request: SubjectRequest
) -> dict[str, Any]:
    contact_id = request.contact_id
    contact = crm.live_contact(tenant_id, contact_id)
    consents = current_consents(store, tenant_id, contact_id)
    found = limits_of(store, tenant_id, [contact_id], (RESTRICTED, OBJECTED)).get(contact_id, {})
    limits = {kind: found.get(kind, set()) for kind in (RESTRICTED, OBJECTED)}
    held = {
        "contact": sorted(contact.fields),
        "activities": len(activities_of(store, tenant_id, contact_id, 0, None)),
        "linked_accounts": len(linked_accounts_of(store, tenant_id, contact_id, 0, None)),
        "consent_decisions": len(consents),
    }
    purposes = [
        {
            "purpose": p.code,
            "legal_basis": p.legal_basis.value,
            "automated_decisions": p.automated,
            "consent": _consent_state(consents.get(p.code)) if p.requires_consent else None,
            "restricted": bool(limits[RESTRICTED] & {"*", p.code}),
            "objected": p.code in limits[OBJECTED],
            "retention": RETENTION_NOT_SET,
        }
        for p in CATALOGUE
        if not p.system
    ]
    shared = [
        {
            "recipient": row["recipient"],
            "purpose": row["purpose"],
            "fields": orjson.loads(row["fields"]),
            "status": row["status"],
            "requested_at": row["requested_at"],
        }
        for row in find_shares(store, tenant_id, contact_id=contact_id)
    ]
    return {
        "format": INFORMATION_FORMAT,
        "subject_id": str(contact_id),
        "generated_at": utc_text(crm.clock()),
        "held": held,
        "purposes": purposes,
        "shared_with": shared,
        "retention": RETENTION_NOT_SET,
    }


def _consent_state(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not asked"
    return "granted" if row["granted"] else "withdrawn"
