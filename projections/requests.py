"""The data-subject request queue, with deadlines: what is open, and what is overdue."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.request import OPEN_STATUSES, SubjectRequest
from domain.values import utc_text
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS requests_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        subject_is_minor INTEGER NOT NULL,
        status TEXT NOT NULL,
        received_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        closed_at TEXT,
        reason TEXT,
        erasure_id TEXT,
        version INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        position BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS requests_view_queue ON requests_view (tenant_id, position)",
    "CREATE INDEX IF NOT EXISTS requests_view_due ON requests_view (tenant_id, status, due_at)",
]

_STATUS = {
    SubjectRequest.Started: "in_progress",
    SubjectRequest.Completed: "done",
    SubjectRequest.Rejected: "rejected",
}


class RequestsProjection(ReadModelProjection):
    name = "requests"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, SubjectRequest.Received):
            return [self._received(event, position)]
        status = _STATUS.get(type(event))
        if status is None:
            if not isinstance(event, SubjectRequest.Event):
                return []
            # A verification, a notice, a restriction recorded: the version moves on.
            return [
                (
                    "UPDATE requests_view SET version = :version, updated_at = :at WHERE id = :id",
                    {
                        "id": str(event.originator_id),
                        "version": event.originator_version,
                        "at": utc_text(event.timestamp),
                    },
                )
            ]
        at = utc_text(event.timestamp)
        params: dict[str, Any] = {
            "id": str(event.originator_id),
            "status": status,
            "version": event.originator_version,
            "at": at,
            "closed_at": None if status == "in_progress" else at,
            "reason": getattr(event, "reason", None),
            "erasure_id": getattr(event, "erasure_id", None),
        }
        return [
            (
                "UPDATE requests_view SET status = :status, version = :version,"
                " updated_at = :at, closed_at = :closed_at, reason = :reason,"
                " erasure_id = :erasure_id WHERE id = :id",
                params,
            )
        ]

    def _received(self, event: SubjectRequest.Received, position: int) -> Write:
        return (
            "INSERT INTO requests_view (id, tenant_id, contact_id, kind, requested_by,"
            " subject_is_minor, status, received_at, due_at, version, updated_at, position)"
            " VALUES (:id, :tenant_id, :contact_id, :kind, :requested_by, :minor, 'open',"
            " :received_at, :due_at, 1, :at, :position)",
            {
                "id": str(event.originator_id),
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "kind": event.kind,
                "requested_by": event.requested_by,
                "minor": 1 if event.subject_is_minor else 0,
                "received_at": event.received_at,
                "due_at": event.due_at,
                "at": utc_text(event.timestamp),
                "position": position,
            },
        )


def find_requests(
    store: ReadModelStore,
    tenant_id: UUID,
    *,
    request_id: UUID | None = None,
    contact_id: UUID | None = None,
    status: str | None = None,
    overdue: bool | None = None,
    now: str = "",
    after: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The queue in order of receipt. ``overdue`` keeps (or leaves out) the requests still
    open or in progress whose deadline passed before ``now`` (fixed-form UTC text)."""
    sql = "SELECT * FROM requests_view WHERE tenant_id = :tenant AND position > :after"
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if request_id is not None:
        sql += " AND id = :id"
        params["id"] = str(request_id)
    if contact_id is not None:
        sql += " AND contact_id = :contact"
        params["contact"] = str(contact_id)
    if status is not None:
        sql += " AND status = :status"
        params["status"] = status
    if overdue is not None:
        late = "status IN (:open, :in_progress) AND due_at < :now"
        sql += f" AND {late}" if overdue else f" AND NOT ({late})"
        params.update(open=OPEN_STATUSES[0].value, in_progress=OPEN_STATUSES[1].value, now=now)
    sql += " ORDER BY position"
    if limit is not None:
        sql += f" LIMIT {int(limit) + 1}"
    return store.query(sql, params)
