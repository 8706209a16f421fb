"""Service data per contact: kind and times in clear, everything else as sealed tokens.

Erasure blanks the tokens (they could no longer be opened anyway).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.activity import Activity
from domain.contact import Contact
from domain.values import utc_text
from projections.fence import fence, fence_schema, unless_erased
from projections.runner import ReadModelProjection
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


class ActivitiesProjection(ReadModelProjection):
    name = "activities"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, Activity.Recorded):
            return [
                (
                    "INSERT INTO activities_view (id, tenant_id, contact_id, kind, occurred_at,"
                    " recorded_at, recorded_by, sealed, position) VALUES (:id, :tenant_id,"
                    " :contact_id, :kind, :occurred_at, :recorded_at, :recorded_by, "
                    + unless_erased("activities", ":sealed")
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
        if isinstance(event, Contact.Erased):
            return [
                fence("activities", str(event.originator_id)),
                (
                    "UPDATE activities_view SET sealed = NULL WHERE contact_id = :id",
                    {"id": str(event.originator_id)},
                ),
            ]
        return []


def activities_of(
    store: ReadModelStore, tenant_id: UUID, contact_id: UUID, after: int, limit: int | None
) -> list[dict[str, Any]]:
    """One contact's activities in the order they were recorded (``limit + 1`` rows)."""
    sql = (
        "SELECT * FROM activities_view WHERE tenant_id = :tenant AND contact_id = :contact"
        " AND position > :after ORDER BY position"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit) + 1}"
    return store.query(sql, {"tenant": str(tenant_id), "contact": str(contact_id), "after": after})


def activity(store: ReadModelStore, tenant_id: UUID, activity_id: UUID) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT * FROM activities_view WHERE tenant_id = :tenant AND id = :id",
        {"tenant": str(tenant_id), "id": str(activity_id)},
    )
    return rows[0] if rows else None
