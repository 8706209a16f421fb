"""Service data per contact: kind and times in clear, everything else as sealed tokens.

Erasure blanks the tokens (they could no longer be opened anyway).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.activity import Activity
from domain.values import utc_text
from projections.fence import ContactRowsProjection, fence_schema, row_by_id, rows_about
from projections.store import ReadModelStore, Write, sealed_json

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS activities_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        sealed TEXT,
        position BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS activities_view_subject"
    " ON activities_view (tenant_id, contact_id, position)",
    fence_schema("activities"),
]


class ActivitiesProjection(ContactRowsProjection):
    name = "activities"
    schema = SCHEMA
    erased_sets = (("activities_view", "sealed = NULL"),)

    def rows_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, Activity.Recorded):
            return [
                (
                    "INSERT INTO activities_view (id, tenant_id, contact_id, kind, occurred_at,"
                    " recorded_at, recorded_by, sealed, position) VALUES (:id, :tenant_id,"
                    " :contact_id, :kind, :occurred_at, :recorded_at, :recorded_by, "
                    + self.sealed_unless_erased()
                    + ", :position)",
                    {
                        "id": str(event.originator_id),
                        "tenant_id": event.tenant_id,
                        "contact_id": event.contact_id,
                        "kind": event.kind,
                        "occurred_at": event.occurred_at,
                        "recorded_at": utc_text(event.timestamp),
                        "recorded_by": event.actor,
                        "sealed": sealed_json(event.sealed),
                        "position": position,
                    },
                )
            ]
        return []


def activities_of(
    store: ReadModelStore, tenant_id: UUID, contact_id: UUID, after: int, limit: int | None
) -> list[dict[str, Any]]:
    """One contact's activities in the order they were recorded (``limit + 1`` rows)."""
    return rows_about(store, "activities_view", tenant_id, contact_id, after, limit)


def activity(store: ReadModelStore, tenant_id: UUID, activity_id: UUID) -> dict[str, Any] | None:
    return row_by_id(store, "activities_view", tenant_id, activity_id)
