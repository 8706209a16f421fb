"""The consents read models: every decision and policy acceptance, and the current decision
per purpose (which the marketing export reads).

``consent_events_view.sealed`` holds the sealed ``source`` and guardian as stored in the
event; erasure blanks it. Nothing else here is personal: purposes, versions, times and
actors' ids. Who gave a decision is not a column: a decision a parent or guardian gave is
the one that sealed them (the event's ``given_by`` says the same), so read models built
before guardians were recorded need no rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.consent import GUARDIAN_FIELDS, ConsentRecord, GivenBy
from domain.values import utc_text
from projections.fence import ContactRowsProjection, fence_schema
from projections.store import ReadModelStore, Write, sealed_cells, sealed_json
from sqlstore.sql import in_list

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS consent_events_view (
        position BIGINT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        purpose TEXT,
        policy_version TEXT,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        sealed TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS consent_events_subject"
    " ON consent_events_view (tenant_id, contact_id, position)",
    """CREATE TABLE IF NOT EXISTS consents_view (
        contact_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        granted INTEGER NOT NULL,
        policy_version TEXT,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (contact_id, purpose)
    )""",
    "CREATE INDEX IF NOT EXISTS consents_view_purpose"
    " ON consents_view (tenant_id, purpose, granted, contact_id)",
    fence_schema("consents"),
]

_KINDS: dict[type[Any], str] = {
    ConsentRecord.Granted: "granted",
    ConsentRecord.Withdrawn: "withdrawn",
    ConsentRecord.PolicyAccepted: "policy_accepted",
}


class ConsentsProjection(ContactRowsProjection):
    name = "consents"
    schema = SCHEMA
    erased_sets = (("consent_events_view", "sealed = NULL"),)

    def rows_for(self, event: Any, position: int) -> list[Write]:
        kind = _KINDS.get(type(event))
        if kind is not None:
            writes = [self._logged(event, kind, position)]
            if isinstance(event, ConsentRecord.Decided):
                writes.append(self._current(event, position))
            return writes
        return []

    def _logged(self, event: Any, kind: str, position: int) -> Write:
        return (
            "INSERT INTO consent_events_view (position, tenant_id, contact_id, record_id,"
            " version, kind, purpose, policy_version, actor, at, sealed) VALUES (:position,"
            " :tenant_id, :contact_id, :record_id, :version, :kind, :purpose,"
            " :policy_version, :actor, :at, " + self.sealed_unless_erased() + ")",
            {
                "position": position,
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "record_id": str(event.originator_id),
                "version": event.originator_version,
                "kind": kind,
                "purpose": getattr(event, "purpose", None),
                "policy_version": event.policy_version,
                "actor": event.actor,
                "at": utc_text(event.timestamp),
                "sealed": sealed_json(event.sealed),
            },
        )

    def _current(self, event: ConsentRecord.Decided, position: int) -> Write:
        return (
            "INSERT INTO consents_view (contact_id, purpose, tenant_id, granted,"
            " policy_version, actor, at, position) VALUES (:contact_id, :purpose, :tenant_id,"
            " :granted, :policy_version, :actor, :at, :position)"
            " ON CONFLICT (contact_id, purpose) DO UPDATE SET granted = excluded.granted,"
            " policy_version = excluded.policy_version, actor = excluded.actor,"
            " at = excluded.at, position = excluded.position",
            {
                "contact_id": event.contact_id,
                "purpose": event.purpose,
                "tenant_id": event.tenant_id,
                "granted": 1 if event.granted else 0,
                "policy_version": event.policy_version,
                "actor": event.actor,
                "at": utc_text(event.timestamp),
                "position": position,
            },
        )


def consent_events(
    store: ReadModelStore, tenant_id: UUID, contact_id: UUID
) -> list[dict[str, Any]]:
    """Every grant, withdrawal and acceptance of one contact, oldest first."""
    return store.query(
        "SELECT * FROM consent_events_view WHERE tenant_id = :tenant AND contact_id = :contact"
        " ORDER BY position",
        {"tenant": str(tenant_id), "contact": str(contact_id)},
    )


def decided_by(row: dict[str, Any]) -> str:
    """Who gave a logged decision (``subject`` or ``guardian``), read without opening it."""
    if set(GUARDIAN_FIELDS) & sealed_cells(row["sealed"]).keys():
        return GivenBy.GUARDIAN.value
    return GivenBy.SUBJECT.value


def current_consents(
    store: ReadModelStore, tenant_id: UUID, contact_id: UUID
) -> dict[str, dict[str, Any]]:
    """The latest decision per purpose of one contact."""
    rows = store.query(
        "SELECT * FROM consents_view WHERE tenant_id = :tenant AND contact_id = :contact",
        {"tenant": str(tenant_id), "contact": str(contact_id)},
    )
    return {row["purpose"]: row for row in rows}


def consenting_contacts(
    store: ReadModelStore, tenant_id: UUID, purpose: str, after: str, limit: int
) -> list[dict[str, Any]]:
    """Contacts rows (still sealed) whose consent for ``purpose`` is current, by id."""
    return store.query(
        "SELECT c.* FROM consents_view k JOIN contacts_view c ON c.id = k.contact_id"
        " WHERE k.tenant_id = :tenant AND k.purpose = :purpose AND k.granted = 1"
        " AND c.tenant_id = :tenant AND c.erased = 0 AND c.id > :after"
        f" ORDER BY c.id LIMIT {int(limit) + 1}",
        {"tenant": str(tenant_id), "purpose": purpose, "after": after},
    )


def consenting_among(
    store: ReadModelStore, tenant_id: UUID, purpose: str, contact_ids: Sequence[UUID]
) -> set[UUID]:
    """Which of ``contact_ids`` have a current consent for ``purpose`` (one query)."""
    if not contact_ids:
        return set()
    ids, params = in_list("c", [str(c) for c in contact_ids])
    rows = store.query(
        "SELECT contact_id FROM consents_view WHERE tenant_id = :tenant AND purpose = :purpose"
        f" AND granted = 1 AND contact_id IN ({ids})",
        {**params, "tenant": str(tenant_id), "purpose": purpose},
    )
    return {UUID(r["contact_id"]) for r in rows}


def consenting_activities(
    store: ReadModelStore, tenant_id: UUID, purpose: str, after: int, limit: int
) -> list[dict[str, Any]]:
    """Activities rows (still sealed) of contacts whose consent for ``purpose`` is current,
    in log order after ``after``."""
    return store.query(
        "SELECT a.* FROM activities_view a JOIN consents_view k ON k.contact_id = a.contact_id"
        " WHERE k.tenant_id = :tenant AND k.purpose = :purpose AND k.granted = 1"
        " AND a.tenant_id = :tenant AND a.position > :after"
        f" ORDER BY a.position LIMIT {int(limit) + 1}",
        {"tenant": str(tenant_id), "purpose": purpose, "after": after},
    )
