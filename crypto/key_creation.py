"""Group commit for first keys: concurrent creations share one keystore transaction.

Every new subject needs its key durable before its command's events are stored, and each
keystore commit costs a flush of its own. Creations that wait at the same moment are
therefore inserted together, in one transaction, by one of their callers (as LevelDB's
writers do): a caller that finds no batch being committed commits its own at once, and
when a batch is done its committer hands everyone who arrived meanwhile, as the next batch,
to the first of them. No committer thread to start or stop, and a lone caller commits on
its own thread with no hand-off and no wait. Each caller returns only once the transaction
holding its row is committed.

The erasure fence and the one-key-per-subject rule are the table's primary key, checked by
the insert itself (``ON CONFLICT DO NOTHING``) inside the same transaction, so a batch keeps
both: a fenced subject, another writer's subject, or a second creation for a subject
earlier in the same batch inserts nothing, and its caller gets the row that is there. If the
shared transaction fails, each creation is retried in a transaction of its own, so one bad
row fails alone and its neighbours are stored; but if the database could not be reached at
all, every creation fails at once with that error instead of waiting out its timeout in turn.

Each batch's size goes to an optional observer, the ``crm_key_batch_keys`` histogram of
``/metrics``, as group commit of events does with ``crm_group_commit_batch_commands``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg

from sqlstore.sql import SqlCursor, SqlDatabase, in_list

# Six parameters a row: 128 rows stay below SQLite's oldest limit of 999 parameters.
MAX_BATCH = 128
KeyRow = dict[str, Any]
COLUMNS = "subject_id, tenant_id, key_id, kek_id, wrapped_key"
# SQLite's primary result codes for a database that cannot take a write at all: busy,
# locked, read-only, I/O error, full, cannot open.
SQLITE_UNREACHABLE = {5, 6, 8, 10, 13, 14}


class BatchSizes(Protocol):
    """Where batch sizes go (a ``prometheus_client`` histogram is one)."""

    def observe(self, amount: float) -> None: ...


@dataclass(frozen=True)
class NewKey:
    """A subject's first key as its caller generated and wrapped it, waiting to be stored:
    only the wrapped form ever reaches the keystore."""

    tenant_id: UUID
    subject_id: UUID
    key_id: str
    kek_id: str
    wrapped_key: str
    created_at: str

    def params(self, i: int) -> dict[str, str]:
        return {
            f"subject{i}": str(self.subject_id),
            f"tenant{i}": str(self.tenant_id),
            f"key_id{i}": self.key_id,
            f"kek_id{i}": self.kek_id,
            f"wrapped{i}": self.wrapped_key,
            f"now{i}": self.created_at,
        }


@dataclass
class _Creation:
    new: NewKey
    stored: Future[KeyRow | None] = field(default_factory=Future)
    leads: list[_Creation] | None = None  # the batch this caller was handed to commit
    # Set once stored, or once handed a batch: each caller is woken alone, never the herd.
    woken: threading.Event = field(default_factory=threading.Event)


class KeyCreations:
    """Stores first keys in shared transactions; see the module docstring for why."""

    def __init__(
        self,
        db: SqlDatabase,
        max_batch: int = MAX_BATCH,
        batch_sizes: BatchSizes | None = None,
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.batch_sizes = batch_sizes
        self._line: list[_Creation] = []  # waiting for the next batch
        self._committing = False
        self._unanswered = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Creations submitted and not yet answered (those being committed included)."""
        with self._lock:
            return self._unanswered

    def store(self, new: NewKey) -> KeyRow | None:
        """Insert ``new`` unless its subject has a row already; once durable, return the
        subject's row as stored (``new``'s own, another writer's key, or an erasure fence).
        Raises what storing it alone would have raised."""
        creation = _Creation(new)
        with self._lock:
            self._unanswered += 1
            self._line.append(creation)
            batch = self._next_batch()
        if batch is None:
            creation.woken.wait()
            batch = creation.leads
        if batch is not None:
            try:
                self._commit(batch)
            finally:
                self._hand_over(batch)
        return creation.stored.result()

    def _next_batch(self) -> list[_Creation] | None:
        """Everyone waiting (up to ``max_batch``), unless a batch is being committed: one
        at a time, as SQLite allows one writer anyway (and on PostgreSQL two in flight
        measured no faster). Called under the lock."""
        if not self._line or self._committing:
            return None
        batch = self._line[: self.max_batch]
        del self._line[: self.max_batch]
        self._committing = True
        return batch

    def _hand_over(self, batch: list[_Creation]) -> None:
        """Answer the batch, and hand the next one to the first of those waiting."""
        with self._lock:
            self._committing = False
            self._unanswered -= len(batch)
            following = self._next_batch()
        if following is not None:
            following[0].leads = following
            following[0].woken.set()
        for creation in batch:
            if not creation.stored.done():  # pragma: no cover - only if _commit was cut short
                creation.stored.set_exception(RuntimeError("key creation was interrupted"))
            creation.woken.set()

    def _commit(self, batch: list[_Creation]) -> None:
        """Store the batch in one transaction, or, if that fails, each creation alone: a
        rolled-back batch stored nothing, and a retry inserts the same key again (or finds
        it, if the failed commit did land). Not when the database cannot be reached: each
        retry would wait out the same timeout, one after another."""
        if self.batch_sizes is not None:
            self.batch_sizes.observe(len(batch))
        try:
            rows = self._insert([c.new for c in batch])
        except Exception as exc:
            if len(batch) == 1 or unreachable(exc):
                _fail(batch, exc)
            else:
                self._commit_each(batch)
            return
        for creation in batch:
            creation.stored.set_result(rows.get(str(creation.new.subject_id)))

    def _commit_each(self, batch: list[_Creation]) -> None:
        """Each creation alone, to find the bad row(s): everyone else is still stored. Once
        the database proves unreachable, the rest fail with it rather than wait in turn."""
        for i, creation in enumerate(batch):
            try:
                rows = self._insert([creation.new])
            except Exception as exc:
                creation.stored.set_exception(exc)
                if unreachable(exc):
                    _fail(batch[i + 1 :], exc)
                    return
                continue
            creation.stored.set_result(rows.get(str(creation.new.subject_id)))

    def _insert(self, batch: Sequence[NewKey]) -> dict[str, KeyRow]:
        """One transaction: insert every row whose subject has none, then read back the
        rows of the others. Rows go in subject order, so two batches (in two processes)
        that share subjects wait for each other instead of deadlocking."""
        ordered = sorted(batch, key=lambda new: str(new.subject_id))
        with self.db.transaction() as cur:
            rows = _insert_missing(cur, ordered)
            others = {str(new.subject_id) for new in ordered} - rows.keys()
            rows.update(_read_rows(cur, sorted(others)))
        return rows


def _insert_missing(cur: SqlCursor, ordered: Sequence[NewKey]) -> dict[str, KeyRow]:
    """The rows this statement inserted, by subject: for each subject without a row (a
    fence is a row), the first of ``ordered``'s keys for it."""
    params: dict[str, str] = {}
    values = []
    for i, new in enumerate(ordered):
        params.update(new.params(i))
        values.append(f"(:subject{i}, :tenant{i}, :key_id{i}, :kek_id{i}, :wrapped{i}, :now{i})")
    inserted = cur.execute(
        f"INSERT INTO subject_keys ({COLUMNS}, created_at) VALUES {', '.join(values)}"
        f" ON CONFLICT (subject_id) DO NOTHING RETURNING {COLUMNS}",
        params,
    ).fetchall()
    return {str(row["subject_id"]): row for row in inserted}


def _read_rows(cur: SqlCursor, subject_ids: Sequence[str]) -> dict[str, KeyRow]:
    """The rows already there for ``subject_ids``: another writer's keys, or fences."""
    if not subject_ids:
        return {}
    ids, params = in_list("s", subject_ids)
    rows = cur.execute(
        f"SELECT {COLUMNS} FROM subject_keys WHERE subject_id IN ({ids})",
        params,
    ).fetchall()
    return {str(row["subject_id"]): row for row in rows}


def _fail(batch: Sequence[_Creation], exc: Exception) -> None:
    for creation in batch:
        creation.stored.set_exception(exc)


def unreachable(exc: Exception) -> bool:
    """Whether a transaction failed for want of a database (no connection, a pool timeout,
    a locked or full file) rather than because of what it wrote: psycopg reports a
    server's refusal with a SQLSTATE, and only a client-side failure without one."""
    if isinstance(exc, psycopg.Error):
        return exc.sqlstate is None
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in SQLITE_UNREACHABLE
    return False
