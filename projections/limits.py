"""Who may not be processed for what: restrictions (UU PDP Pasal 11, 41) and objections
(Pasal 10), as the requests that recorded them left them. The processing decision point
asks this read model for a whole page of subjects at once.

A row is (subject, kind, purpose), ``*`` for a restriction of every purpose. Ids and codes
only; they stay after an erasure (an erased subject is not processed at all anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.request import SubjectRequest
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write
from sqlstore.sql import Dialect, in_list

RESTRICTED = "restricted"
OBJECTED = "objected"
EVERY_PURPOSE = "*"
LIMITS_COLUMN = "processing_limits"
Limits = dict[str, set[str]]  # kind -> purposes (``*``: all)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS processing_limits_view (
        subject_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        purpose TEXT NOT NULL,
        request_id TEXT NOT NULL,
        PRIMARY KEY (subject_id, kind, purpose)
    )""",
]

_INSERT = (
    "INSERT INTO processing_limits_view (subject_id, tenant_id, kind, purpose, request_id)"
    " VALUES (:subject, :tenant, :kind, :purpose, :request)"
    " ON CONFLICT (subject_id, kind, purpose) DO UPDATE SET request_id = excluded.request_id"
)


class ProcessingLimitsProjection(ReadModelProjection):
    name = "processing_limits"
    schema = SCHEMA

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, SubjectRequest.Restricted):
            return self._rows(event, RESTRICTED, event.purposes or [EVERY_PURPOSE])
        if isinstance(event, SubjectRequest.Objected):
            return self._rows(event, OBJECTED, event.purposes)
        if isinstance(event, SubjectRequest.RestrictionLifted):
            return [
                (
                    "DELETE FROM processing_limits_view WHERE subject_id = :subject"
                    " AND kind = :kind",
                    {"subject": event.contact_id, "kind": RESTRICTED},
                )
            ]
        return []

    @staticmethod
    def _rows(event: Any, kind: str, purposes: Sequence[str]) -> list[Write]:
        common = {
            "subject": event.contact_id,
            "tenant": event.tenant_id,
            "kind": kind,
            "request": str(event.originator_id),
        }
        return [(_INSERT, {**common, "purpose": purpose}) for purpose in purposes]


def limits_column(dialect: Dialect, subject: str, tenant: str) -> str:
    """A column for a query of subjects' rows: each row's limits, read in the same
    statement (a read then asks the decision point without a query of its own). ``subject``
    and ``tenant`` name the outer query's columns; :func:`parsed_limits` reads the value."""
    aggregate = "string_agg" if dialect == "postgres" else "group_concat"
    return (
        f"(SELECT {aggregate}(l.kind || ' ' || l.purpose, ',') FROM processing_limits_view l"
        f" WHERE l.subject_id = {subject} AND l.tenant_id = {tenant}) AS {LIMITS_COLUMN}"
    )


def parsed_limits(value: str | None) -> Limits:
    """A :func:`limits_column` value as kind -> purposes (kinds and codes hold no spaces
    or commas)."""
    found: Limits = {}
    for pair in (value or "").split(","):
        if pair:
            kind, _, purpose = pair.partition(" ")
            found.setdefault(kind, set()).add(purpose)
    return found


def limits_of(
    store: ReadModelStore, tenant_id: UUID, subjects: Sequence[UUID], kinds: Sequence[str]
) -> dict[UUID, Limits]:
    """For each of ``subjects`` with a limit of one of ``kinds``: kind -> purposes (``*``:
    all). One query whatever the number of kinds: a read asks this before opening."""
    if not subjects or not kinds:
        return {}
    subject_list, params = in_list("s", [str(s) for s in subjects])
    kind_list, kind_params = in_list("k", kinds)
    rows = store.query(
        "SELECT subject_id, kind, purpose FROM processing_limits_view WHERE tenant_id = :tenant"
        f" AND kind IN ({kind_list}) AND subject_id IN ({subject_list})",
        {**params, **kind_params, "tenant": str(tenant_id)},
    )
    found: dict[UUID, Limits] = {}
    for row in rows:
        by_kind = found.setdefault(UUID(row["subject_id"]), {})
        by_kind.setdefault(row["kind"], set()).add(row["purpose"])
    return found
