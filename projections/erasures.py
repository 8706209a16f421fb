"""Erasures, scheduled, cancelled or executed; certificates are issued (identically) from here."""

from __future__ import annotations

from typing import Any

from domain.contact import Contact
from projections.runner import ReadModelProjection
from projections.store import Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS erasures_view (
        erasure_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        status TEXT NOT NULL,
        due_at TEXT,
        requested_by TEXT NOT NULL,
        request_id TEXT,
        key_id TEXT,
        destroyed_at TEXT,
        erased_by TEXT,
        position BIGINT
    )""",
    "CREATE INDEX IF NOT EXISTS erasures_view_due ON erasures_view (status, due_at)",
]


class ErasuresProjection(ReadModelProjection):
    name = "erasures"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, Contact.ErasureScheduled):
            return [
                (
                    "INSERT INTO erasures_view (erasure_id, tenant_id, subject_id, status,"
                    " due_at, requested_by, request_id) VALUES (:erasure_id, :tenant_id,"
                    " :subject_id, 'scheduled', :due_at, :actor, :request_id)",
                    {
                        "erasure_id": event.erasure_id,
                        "tenant_id": event.tenant_id,
                        "subject_id": str(event.originator_id),
                        "due_at": event.due_at,
                        "actor": event.actor,
                        "request_id": event.request_id,
                    },
                )
            ]
        if isinstance(event, Contact.ErasureCancelled):
            return [
                (
                    "UPDATE erasures_view SET status = 'cancelled' WHERE erasure_id = :id",
                    {"id": event.erasure_id},
                )
            ]
        if isinstance(event, Contact.Erased):
            return [self._executed(event, position)]
        return []

    def _executed(self, event: Contact.Erased, position: int) -> Write:
        return (
            "INSERT INTO erasures_view (erasure_id, tenant_id, subject_id, status,"
            " requested_by, request_id, key_id, destroyed_at, erased_by, position) VALUES"
            " (:erasure_id, :tenant_id, :subject_id, 'executed', :actor, :request_id,"
            " :key_id, :destroyed_at, :actor, :position) ON CONFLICT (erasure_id) DO UPDATE"
            " SET status = 'executed', key_id = :key_id, destroyed_at = :destroyed_at,"
            " erased_by = :actor, position = :position",
            {
                "erasure_id": event.erasure_id,
                "tenant_id": event.tenant_id,
                "subject_id": str(event.originator_id),
                "actor": event.actor,
                "request_id": event.request_id,
                "key_id": event.key_id,
                "destroyed_at": event.destroyed_at,
                "position": position,
            },
        )
