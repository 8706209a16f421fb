"""The processing trail as a read model: every access record, findable by subject, actor,
purpose and time, for auditors and for the subject's own export.

Records hold ids and codes only, so erasure leaves them as they are (the trail of what was
done with an erased subject's data is kept, as the law asks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from domain.access import AccessRecord
from domain.values import utc_text
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

# Subjects per trail insert: with the record's position and tenant, 50 parameters, the most
# for which psycopg keeps a statement's parsed form (longer ones it parses at every use).
ROWS_PER_INSERT = 48
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS access_view (
        position BIGINT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        purpose TEXT NOT NULL,
        operation TEXT NOT NULL,
        fields TEXT NOT NULL,
        subject_ids TEXT NOT NULL,
        request_id TEXT,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS access_view_tenant ON access_view (tenant_id, position)",
    """CREATE TABLE IF NOT EXISTS access_subjects_view (
        position BIGINT NOT NULL,
        subject_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        PRIMARY KEY (subject_id, position)
    )""",
]


class AccessTrailProjection(ReadModelProjection):
    name = "access_trail"
    schema = SCHEMA
    inserts_only = True

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if not isinstance(event, AccessRecord.Recorded):
            return []
        record: Write = (
            "INSERT INTO access_view (position, tenant_id, record_id, actor, role, purpose,"
            " operation, fields, subject_ids, request_id, at) VALUES (:position, :tenant_id,"
            " :record_id, :actor, :role, :purpose, :operation, :fields, :subject_ids,"
            " :request_id, :at)",
            {
                "position": position,
                "tenant_id": event.tenant_id,
                "record_id": str(event.originator_id),
                "actor": event.actor,
                "role": event.role,
                "purpose": event.purpose,
                "operation": event.operation,
                "fields": orjson.dumps(event.fields).decode(),
                "subject_ids": orjson.dumps(event.subject_ids).decode(),
                "request_id": event.request_id,
                "at": utc_text(event.timestamp),
            },
        )
        subjects = list(event.subject_ids)
        return [
            record,
            *(
                subject_rows(position, event.tenant_id, subjects[start : start + ROWS_PER_INSERT])
                for start in range(0, len(subjects), ROWS_PER_INSERT)
            ),
        ]


def subject_rows(position: int, tenant_id: str, subjects: Sequence[str]) -> Write:
    """One statement for many subjects' trail rows (a page of 500 is eleven inserts, not
    500: per row, the driver's work costs more than the database's)."""
    values = ", ".join(f"(:position, :s{n}, :tenant_id)" for n in range(len(subjects)))
    return (
        f"INSERT INTO access_subjects_view (position, subject_id, tenant_id) VALUES {values}",
        {"position": position, "tenant_id": tenant_id}
        | {f"s{n}": subject for n, subject in enumerate(subjects)},
    )


def access_rows(
    store: ReadModelStore,
    tenant_id: UUID,
    *,
    subject_id: UUID | None = None,
    actor: str | None = None,
    purpose: str | None = None,
    after: int = 0,
    as_of: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The tenant's access records in log order after ``after`` (``limit + 1`` of them when
    paging), filtered by subject, actor, purpose and time as given."""
    sql = "SELECT a.* FROM access_view a"
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if subject_id is not None:
        sql += " JOIN access_subjects_view s ON s.position = a.position AND s.subject_id = :subject"
        params["subject"] = str(subject_id)
    sql += " WHERE a.tenant_id = :tenant AND a.position > :after"
    for column, value in (("actor", actor), ("purpose", purpose)):
        if value is not None:
            sql += f" AND a.{column} = :{column}"
            params[column] = value
    if as_of is not None:
        sql += " AND a.at <= :as_of"
        params["as_of"] = utc_text(as_of.astimezone(UTC))
    sql += " ORDER BY a.position"
    if limit is not None:
        sql += f" LIMIT {int(limit) + 1}"
    return store.query(sql, params)


def access_view(row: dict[str, Any]) -> dict[str, Any]:
    """A record as the API and the export show it."""
    return {
        "position": int(row["position"]),
        "at": row["at"],
        "actor": row["actor"],
        "role": row["role"],
        "purpose": row["purpose"],
        "operation": row["operation"],
        "fields": orjson.loads(row["fields"]),
        "subject_ids": orjson.loads(row["subject_ids"]),
        "request_id": row["request_id"],
    }
