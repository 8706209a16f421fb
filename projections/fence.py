"""Erasure fences for read models whose rows come from other aggregates than the contact.

A consent, an activity, a linked account or a share lives in its own aggregate, so when
read models are fed from Kafka (one partition per aggregate) its events may arrive after
the contact's erasure. Each such projection keeps its own list of erased subjects: the
erasure blanks rows already there, and rows that arrive later are written blank. The result
no longer depends on the order in which the two streams arrive.
"""

from __future__ import annotations

from projections.store import Write


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
