"""What the request queue shows beyond its status: the purposes and corrections a request
names, how the requester's identity was verified, what completing it did, and the notice
owed to the subject. Ids and codes only (a verification's note and a rectification's values
stay sealed in the request's events).

Kept apart from ``requests_view`` so a deployment that already has that table gains this
one by catching up from the start of the log, with no migration.
"""

from __future__ import annotations

from typing import Any

import orjson

from domain.request import SubjectRequest
from domain.values import utc_text
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write
from sqlstore.sql import in_list

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS request_details_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        purposes TEXT,
        changed_fields TEXT,
        verification TEXT,
        effects TEXT,
        notice TEXT
    )""",
]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class RequestDetailsProjection(ReadModelProjection):
    name = "request_details"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        rid = str(event.originator_id) if hasattr(event, "originator_id") else ""
        if isinstance(event, SubjectRequest.Received):
            changed = sorted({*(event.sealed or {}), *(event.cleared or [])})
            return [
                (
                    "INSERT INTO request_details_view (id, tenant_id, purposes, changed_fields)"
                    " VALUES (:id, :tenant_id, :purposes, :changed)",
                    {
                        "id": rid,
                        "tenant_id": event.tenant_id,
                        "purposes": None if event.purposes is None else _json(event.purposes),
                        "changed": _json(changed) if changed else None,
                    },
                )
            ]
        column, value = self._detail(event)
        if column is None:
            return []
        return [
            (
                f"UPDATE request_details_view SET {column} = :value WHERE id = :id",
                {"id": rid, "value": _json(value)},
            )
        ]

    @staticmethod
    def _detail(event: Any) -> tuple[str | None, Any]:
        at = utc_text(event.timestamp)
        if isinstance(event, SubjectRequest.IdentityVerified):
            return "verification", {
                "method": event.method,
                "verified_by": event.actor,
                "verified_at": at,
            }
        if isinstance(event, SubjectRequest.Completed):
            return "effects", event.effects or []
        if isinstance(event, SubjectRequest.Noticed):
            return "notice", {"channel": event.channel, "content": event.content, "at": at}
        return None, None


def request_details(store: ReadModelStore, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The details of each of ``request_ids`` that has them, decoded."""
    if not request_ids:
        return {}
    ids, params = in_list("r", request_ids)
    rows = store.query(f"SELECT * FROM request_details_view WHERE id IN ({ids})", params)
    decoded: dict[str, dict[str, Any]] = {}
    for row in rows:
        decoded[row["id"]] = {
            column: None if row[column] is None else orjson.loads(row[column])
            for column in ("purposes", "changed_fields", "verification", "effects", "notice")
        }
    return decoded
