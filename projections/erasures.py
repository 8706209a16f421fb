"""Erasure records, from which signed certificates are issued (and re-issued identically)."""

from __future__ import annotations

from typing import Any

from domain.contact import Contact
from projections.runner import Projection
from projections.store import Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS erasures_view (
        erasure_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        destroyed_at TEXT NOT NULL,
        erased_by TEXT NOT NULL,
        request_id TEXT,
        position BIGINT NOT NULL
    )""",
]


class ErasuresProjection(Projection):
    name = "erasures"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if not isinstance(event, Contact.Erased):
            return []
        return [
            (
                "INSERT INTO erasures_view (erasure_id, tenant_id, subject_id, key_id,"
                " destroyed_at, erased_by, request_id, position) VALUES (:erasure_id,"
                " :tenant_id, :subject_id, :key_id, :destroyed_at, :erased_by, :request_id,"
                " :position)",
                {
                    "erasure_id": event.erasure_id,
                    "tenant_id": event.tenant_id,
                    "subject_id": str(event.originator_id),
                    "key_id": event.key_id,
                    "destroyed_at": event.destroyed_at,
                    "erased_by": event.actor,
                    "request_id": event.request_id,
                    "position": position,
                },
            )
        ]
