"""The audit timeline: every event's position, tenant, subject, type, time and actor.

It indexes the log by tenant and subject so auditors can page through one tenant's
history; the events themselves are read from the store, still sealed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.base import TenantAggregate
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS audit_timeline (
        position BIGINT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        actor TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_timeline_tenant ON audit_timeline (tenant_id, position)",
    "CREATE INDEX IF NOT EXISTS audit_timeline_subject"
    " ON audit_timeline (tenant_id, subject_id, position)",
]


def event_type(event: Any) -> str:
    """``Contact.Registered`` style names: stable, and free of module paths."""
    return type(event).__qualname__


def subject_of(event: Any) -> str:
    """The data subject an event is about (a contact, a user...); a tenant's own events are
    about the tenant."""
    if isinstance(event, TenantAggregate.Event):
        return str(event.subject())
    return str(event.originator_id)


def tenant_of(event: Any) -> str:
    if isinstance(event, TenantAggregate.Event):
        return event.tenant_id
    return str(event.originator_id)  # the tenant's own events


class AuditTimelineProjection(ReadModelProjection):
    name = "audit_timeline"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        return [
            (
                "INSERT INTO audit_timeline (position, tenant_id, aggregate_id, subject_id,"
                " version, event_type, occurred_at, actor) VALUES (:position, :tenant_id,"
                " :aggregate_id, :subject_id, :version, :event_type, :occurred_at, :actor)",
                {
                    "position": position,
                    "tenant_id": tenant_of(event),
                    "aggregate_id": str(event.originator_id),
                    "subject_id": subject_of(event),
                    "version": event.originator_version,
                    "event_type": event_type(event),
                    "occurred_at": event.timestamp.isoformat(),
                    "actor": event.actor,
                },
            ),
        ]


def timeline_positions(
    store: ReadModelStore,
    tenant_id: UUID,
    *,
    subject_id: UUID | None,
    after: int,
    as_of: datetime | None,
    limit: int,
) -> list[int]:
    """Positions of the tenant's events after ``after`` (``limit + 1`` of them), about one
    subject if given, that happened by ``as_of`` if given."""
    sql = "SELECT position FROM audit_timeline WHERE tenant_id = :tenant AND position > :after"
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if subject_id is not None:
        sql += " AND subject_id = :subject"
        params["subject"] = str(subject_id)
    if as_of is not None:
        sql += " AND occurred_at <= :as_of"
        params["as_of"] = as_of.astimezone(UTC).isoformat()  # stored times are UTC
    rows = store.query(f"{sql} ORDER BY position LIMIT {int(limit) + 1}", params)
    return [int(r["position"]) for r in rows]


def is_tenant_position(store: ReadModelStore, tenant_id: UUID, position: int) -> bool:
    """Whether the event at ``position`` is one of the tenant's."""
    rows = store.query(
        "SELECT position FROM audit_timeline WHERE position = :p AND tenant_id = :t",
        {"p": position, "t": str(tenant_id)},
    )
    return bool(rows)


def contacts_registered_by(
    store: ReadModelStore, tenant_id: UUID, as_of: datetime, after: str, limit: int
) -> list[str]:
    """Ids of the tenant's contacts registered by ``as_of``, after ``after``, in id order."""
    rows = store.query(
        "SELECT DISTINCT aggregate_id FROM audit_timeline WHERE tenant_id = :tenant"
        " AND event_type = 'Contact.Registered' AND occurred_at <= :as_of"
        f" AND aggregate_id > :after ORDER BY aggregate_id LIMIT {int(limit)}",
        {"tenant": str(tenant_id), "as_of": as_of.astimezone(UTC).isoformat(), "after": after},
    )
    return [str(r["aggregate_id"]) for r in rows]
