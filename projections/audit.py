"""The audit timeline: every event's position, tenant, subject, type, time and actor.

It indexes the log by tenant and subject so auditors can page through one tenant's
history; the events themselves are read from the store, still sealed.
"""

from __future__ import annotations

from typing import Any

from domain.tenant import Tenant
from projections.runner import ReadModelProjection
from projections.store import Write

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
    """CREATE TABLE IF NOT EXISTS audit_subjects (
        aggregate_id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL
    )""",
]


def event_type(event: Any) -> str:
    """``Contact.Registered`` style names: stable, and free of module paths."""
    return type(event).__qualname__


def named_subject(event: Any) -> str | None:
    """The subject an event names, when its aggregate is about someone else's data (a key,
    a consent record, a share...): their first event carries ``subject_id`` or
    ``contact_id``; later events of the same aggregate are mapped through audit_subjects."""
    subject = getattr(event, "subject_id", None) or getattr(event, "contact_id", None)
    return None if subject is None else str(subject)


def tenant_of(event: Any) -> str:
    if isinstance(event, Tenant.Created):
        return str(event.originator_id)
    return str(event.tenant_id)


class AuditTimelineProjection(ReadModelProjection):
    name = "audit_timeline"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        aggregate_id = str(event.originator_id)
        writes: list[Write] = []
        subject = named_subject(event)
        if subject is not None:
            writes.append(
                (
                    "INSERT INTO audit_subjects (aggregate_id, subject_id)"
                    " VALUES (:aggregate_id, :subject_id) ON CONFLICT (aggregate_id) DO NOTHING",
                    {"aggregate_id": aggregate_id, "subject_id": subject},
                )
            )
        return [
            *writes,
            (
                "INSERT INTO audit_timeline (position, tenant_id, aggregate_id, subject_id,"
                " version, event_type, occurred_at, actor) VALUES (:position, :tenant_id,"
                " :aggregate_id, COALESCE((SELECT subject_id FROM audit_subjects"
                " WHERE aggregate_id = :aggregate_id), :aggregate_id), :version, :event_type,"
                " :occurred_at, :actor)",
                {
                    "position": position,
                    "tenant_id": tenant_of(event),
                    "aggregate_id": aggregate_id,
                    "version": event.originator_version,
                    "event_type": event_type(event),
                    "occurred_at": event.timestamp.isoformat(),
                    "actor": event.actor,
                },
            ),
        ]
