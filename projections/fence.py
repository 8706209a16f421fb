"""Read models of rows about a contact kept in other aggregates than the contact's, and the
erasure fences they need.

A consent, an activity, a linked account or a share lives in its own aggregate, so when
read models are fed from Kafka (one partition per aggregate) its events may arrive after
the contact's erasure. Each such projection keeps its own list of erased subjects: the
erasure blanks rows already there, and rows that arrive later are written blank. The result
no longer depends on the order in which the two streams arrive.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any
from uuid import UUID

from domain.contact import Contact
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write


def fence_table(projection: str) -> str:
    return f"{projection}_erased_subjects"


def fence_schema(projection: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {fence_table(projection)} (subject_id TEXT PRIMARY KEY)"


def fence(projection: str, subject_id: str) -> Write:
    """Record the erasure (idempotent), for rows that have not arrived yet."""
    return (
        f"INSERT INTO {fence_table(projection)} (subject_id) VALUES (:subject_id)"
        " ON CONFLICT (subject_id) DO NOTHING",
        {"subject_id": subject_id},
    )


def unless_erased(projection: str, value: str, subject_param: str = "contact_id") -> str:
    """A SQL expression: ``value`` (a parameter), or NULL when the subject was erased."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {fence_table(projection)}"
        f" WHERE subject_id = :{subject_param}) THEN NULL ELSE {value} END"
    )


def erased_flag(projection: str, subject_param: str = "contact_id") -> str:
    """A SQL expression: 1 when the subject was erased, else 0."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {fence_table(projection)}"
        f" WHERE subject_id = :{subject_param}) THEN 1 ELSE 0 END"
    )


class ContactRowsProjection(ReadModelProjection):
    """A read model whose rows each belong to one contact but come from aggregates of their
    own (a consent record, an activity, a linked account, a share), some holding the
    contact's sealed values. What all of them do about erasure is written here once: the
    contact's erasure is fenced (for rows still to arrive, see the module docstring), and
    each table's rows of the contact are blanked as ``erased_sets`` says."""

    erased_sets: tuple[tuple[str, str], ...]  # (table, what erasure sets, e.g. "sealed = NULL")

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, Contact.Erased):
            return self.erasure(str(event.originator_id))
        return self.rows_for(event, position)

    @abstractmethod
    def rows_for(self, event: Any, position: int) -> list[Write]:
        """The writes for an event of the projection's own aggregates."""

    def erasure(self, subject_id: str) -> list[Write]:
        return [
            fence(self.name, subject_id),
            *(
                (f"UPDATE {table} SET {sets} WHERE contact_id = :id", {"id": subject_id})
                for table, sets in self.erased_sets
            ),
        ]

    def sealed_unless_erased(self, value: str = ":sealed") -> str:
        return unless_erased(self.name, value)


def rows_about(
    store: ReadModelStore,
    table: str,
    tenant_id: UUID,
    contact_id: UUID,
    after: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One contact's rows of ``table`` in log order after ``after`` (``limit + 1`` of them
    when paging, every one for the subject's export)."""
    sql = (
        f"SELECT * FROM {table} WHERE tenant_id = :tenant AND contact_id = :contact"
        " AND position > :after ORDER BY position"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit) + 1}"
    return store.query(sql, {"tenant": str(tenant_id), "contact": str(contact_id), "after": after})


def row_by_id(
    store: ReadModelStore, table: str, tenant_id: UUID, row_id: UUID
) -> dict[str, Any] | None:
    rows = store.query(
        f"SELECT * FROM {table} WHERE tenant_id = :tenant AND id = :id",
        {"tenant": str(tenant_id), "id": str(row_id)},
    )
    return rows[0] if rows else None
