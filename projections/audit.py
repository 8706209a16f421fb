"""The audit timeline: every event's position, tenant, subject, type, time and actor.

It indexes the log by tenant and subject so auditors can page through one tenant's
history; the events themselves are read from the store, still sealed.
"""

from __future__ import annotations

from typing import Any

from domain.base import TenantAggregate
from projections.runner import Projection
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


class AuditTimelineProjection(Projection):
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
