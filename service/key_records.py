"""Data keys the event store does not record: orphans left by commands that failed.

A data key is created in the keystore, its own database, before the command's events are
committed in the event store (invariant 5). When that commit fails, the key stays behind
with nothing sealed under it: harmless, but an operator should be able to see them. A key
is recorded when its ``SubjectKey.Created`` event (version 1 of the subject's key
aggregate) is stored; a fence for a subject that never had a key is not an orphan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from crypto.sql_keystore import SqlKeystore
from domain.keys import subject_key_id
from storage.recorders import LedgerRecorder

PAGE = 500
NO_KEY = "none"  # the key id of a fence for a subject that never had a key


@dataclass(frozen=True)
class OrphanKey:
    """A keystore row with no ``SubjectKey.Created`` event: ids and times only."""

    tenant_id: str
    subject_id: str
    key_id: str
    created_at: str
    destroyed: bool


def orphan_keys(keystore: SqlKeystore, recorder: LedgerRecorder) -> Iterator[OrphanKey]:
    """Walk the keystore in pages, one event-store query per page."""
    after = ""
    while rows := keystore.key_rows(after, PAGE):
        after = str(rows[-1]["subject_id"])
        keyed = [r for r in rows if r["key_id"] != NO_KEY]
        records = {subject_key_id(UUID(str(r["subject_id"]))): r for r in keyed}
        recorded = recorder.aggregates_at_version(list(records), 1)
        for record_id, row in records.items():
            if record_id not in recorded:
                yield OrphanKey(
                    tenant_id=str(row["tenant_id"]),
                    subject_id=str(row["subject_id"]),
                    key_id=str(row["key_id"]),
                    created_at=str(row["created_at"]),
                    destroyed=row["destroyed_at"] is not None,
                )
