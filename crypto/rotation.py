"""KEK rotation, KEK destruction, and when an erasure is complete in backups.

A backup of the keystore taken before an erasure still holds the subject's data key,
wrapped under whatever KEK was in use then. The erasure is complete everywhere only once
every KEK in use up to the moment of erasure has been destroyed. So erasures close an
epoch: within the 72-hour deadline, rotate the KEK (re-wrap every live key under a new
one) and destroy the old KEKs; ``pending_erasures`` lists what is still recoverable.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from crypto.keystore import PendingErasure, wrap_context
from crypto.sql_keystore import SqlKeystore

ERASURE_DEADLINE = timedelta(hours=72)


class KekInUse(Exception):
    """A KEK cannot be destroyed: unknown, current, or live keys are still wrapped under it."""


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    from_kek_ids: frozenset[str]
    to_kek_id: str


class KekRotator:
    """Re-wraps live data keys under the current KEK, in committed batches (resumable)."""

    def __init__(self, keystore: SqlKeystore, batch_size: int = 500) -> None:
        self.keystore = keystore
        self.batch_size = batch_size

    def stale_count(self) -> int:
        with self.keystore.db.transaction(write=False) as cur:
            row = cur.execute(
                "SELECT COUNT(*) AS n FROM subject_keys WHERE wrapped_key IS NOT NULL"
                " AND kek_id <> :current",
                {"current": self.keystore.kek.kek_id},
            ).fetchone()
        return int(row["n"]) if row else 0

    def rewrap_batch(self) -> tuple[int, set[str]]:
        """Re-wrap up to one batch; compare-and-set, so a key destroyed meanwhile stays gone."""
        kek = self.keystore.kek
        with self.keystore.db.transaction() as cur:
            rows = cur.execute(
                "SELECT subject_id, tenant_id, key_id, kek_id, wrapped_key FROM subject_keys"
                " WHERE wrapped_key IS NOT NULL AND kek_id <> :current"
                f" ORDER BY subject_id LIMIT {int(self.batch_size)}",
                {"current": kek.kek_id},
            ).fetchall()
            updates = []
            for row in rows:
                context = wrap_context(
                    UUID(row["tenant_id"]), UUID(row["subject_id"]), row["key_id"]
                )
                key = kek.unwrap(row["kek_id"], base64.b64decode(row["wrapped_key"]), context)
                new_kek, wrapped = kek.wrap(key, context)
                updates.append(
                    {
                        "subject": row["subject_id"],
                        "old": row["kek_id"],
                        "kek": new_kek,
                        "wrapped": base64.b64encode(wrapped).decode(),
                    }
                )
            cur.executemany(
                "UPDATE subject_keys SET kek_id = :kek, wrapped_key = :wrapped"
                " WHERE subject_id = :subject AND kek_id = :old AND destroyed_at IS NULL",
                updates,
            )
        self.keystore.cache.clear()
        return len(rows), {row["kek_id"] for row in rows}

    def run(self, progress: Callable[[int], None] | None = None) -> RotationReport:
        done, sources = 0, set()
        while True:
            count, kek_ids = self.rewrap_batch()
            if count == 0:
                break
            done += count
            sources |= kek_ids
            if progress:
                progress(done)
        return RotationReport(done, frozenset(sources), self.keystore.kek.kek_id)


def record_kek_destroyed(keystore: SqlKeystore, kek_id: str) -> None:
    """Mark a KEK destroyed, refusing while it is current or still wraps a live key."""
    if kek_id == keystore.kek.kek_id:
        raise KekInUse("the current KEK cannot be destroyed; rotate first")
    with keystore.db.transaction() as cur:
        known = cur.execute(
            "SELECT kek_id FROM key_encryption_keys WHERE kek_id = :kek", {"kek": kek_id}
        ).fetchone()
        if known is None:
            raise KekInUse(f"{kek_id} is not a KEK this keystore has used")
        row = cur.execute(
            "SELECT COUNT(*) AS n FROM subject_keys"
            " WHERE kek_id = :kek AND wrapped_key IS NOT NULL",
            {"kek": kek_id},
        ).fetchone()
        if row and int(row["n"]):
            raise KekInUse(f"{row['n']} live keys are still wrapped under {kek_id}")
        now = datetime.now(UTC).isoformat()
        cur.execute(
            "UPDATE key_encryption_keys SET destroyed_at = :now WHERE kek_id = :kek",
            {"kek": kek_id, "now": now},
        )


def known_keks(keystore: SqlKeystore) -> list[dict[str, object]]:
    with keystore.db.transaction(write=False) as cur:
        rows = cur.execute(
            "SELECT k.kek_id, k.first_used_at, k.destroyed_at,"
            " (SELECT COUNT(*) FROM subject_keys s WHERE s.kek_id = k.kek_id) AS live_keys"
            " FROM key_encryption_keys k ORDER BY k.first_used_at"
        ).fetchall()
    return [{**row, "current": row["kek_id"] == keystore.kek.kek_id} for row in rows]


def pending_erasures(keystore: SqlKeystore) -> list[PendingErasure]:
    """Erasures a pre-erasure backup could still undo: some KEK in use at the time of the
    erasure has not been destroyed yet."""
    with keystore.db.transaction(write=False) as cur:
        rows = cur.execute(
            "SELECT s.tenant_id, s.subject_id, s.key_id, s.destroyed_at, s.wrapped_under"
            " FROM subject_keys s WHERE s.destroyed_at IS NOT NULL AND s.key_id <> 'none'"
            " AND EXISTS (SELECT 1 FROM key_encryption_keys k WHERE k.destroyed_at IS NULL"
            " AND k.first_used_at <= s.destroyed_at) ORDER BY s.destroyed_at"
        ).fetchall()
    return [
        PendingErasure(
            tenant_id=row["tenant_id"],
            subject_id=row["subject_id"],
            key_id=row["key_id"],
            destroyed_at=row["destroyed_at"],
            wrapped_under=row["wrapped_under"] or "",
            complete_by=(
                datetime.fromisoformat(row["destroyed_at"]) + ERASURE_DEADLINE
            ).isoformat(),
        )
        for row in rows
    ]
