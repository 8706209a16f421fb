"""The event store's recorders: the library's application recorders, extended so that
every transaction that inserts events also enters them in the audit ledger
(:class:`storage.ledger.LedgerWriter`) and, when read models share the database, applies
them to those; and the reads that verification, proofs and replay make of the log."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composable, Composed, Identifier

from sqlstore.sql import Dialect, SqlCursor
from storage import one_string
from storage.ledger import HEAD, HEAD_POSITION, SCHEMA, InTransaction, LedgerWriter

ENTRY_WITH_EVENT = (
    "seq",
    "position",
    "event_hash",
    "chain_hash",
    "originator_id",
    "originator_version",
    "topic",
    "state",
)
EntryWithEvent = tuple[int, int, str, str, UUID | str | None, int | None, str | None, bytes | None]
"""A ledger entry and its stored event, in the order of :data:`ENTRY_WITH_EVENT`; the
event's columns are None when the event is missing (SQLite gives the id as text)."""


class ProjectedHere:
    """Which of this process's commits need no catching up: those whose transaction applied
    every in-transaction projection. Their NOTIFY comes from one of :attr:`backends` (the
    server processes of this pool's connections that made such commits), so this process's
    follower can let it pass; a commit that left a projection behind sets :attr:`behind`,
    and the follower catches up after all. Should another process's server process later
    get the id of one this pool dropped, its commits wait for the follower's interval."""

    MAX_BACKENDS = 256  # a pool that reconnected this often starts the set afresh

    def __init__(self) -> None:
        self.backends: set[int] = set()
        self.behind = threading.Event()
        # The last position of this process's latest committed batch that applied every
        # in-transaction projection: the read models reflect it with no query to ask.
        self.reached_at = 0
        self._lock = threading.Lock()

    def reached(self, position: int) -> None:
        """A batch up to ``position`` committed with every projection applied in it."""
        with self._lock:
            self.reached_at = max(self.reached_at, position)

    def committed(self, backend: int, all_applied: bool) -> None:
        if not all_applied:
            self.behind.set()
        elif backend not in self.backends:
            if len(self.backends) >= self.MAX_BACKENDS:
                self.backends = set()
            self.backends.add(backend)


def _rendered(statement: Any) -> Composed:
    """A composed statement as the one string it always renders to (still a ``Composed``,
    of one part, which psycopg turns into bytes without composing anything)."""
    if not isinstance(statement, Composable):
        return Composed([SQL(statement)])  # a plain string already
    return Composed([SQL(statement.as_string(None))])


def _uuid(value: UUID | str) -> UUID:
    """An originator id as the library's recorders give it (SQLite stores it as text)."""
    return value if isinstance(value, UUID) else UUID(value)


class LedgerRecorder:
    """What both recorders share: the writer, the hook body that enters freshly inserted
    events in the ledger, and read access for verification and proofs. Mixed in before the
    library's application recorder, whose datastore and events table it uses; the engine
    classes keep only their dialect, their events table's position column and DDL, and the
    library hook they extend."""

    ledger: LedgerWriter | None = None
    projector: InTransaction | None = None
    dialect: Dialect
    position_column: str

    if TYPE_CHECKING:  # provided by the library's recorder the engine class also extends
        datastore: Any
        events_table_name: str

    @property
    def events_table(self) -> str:
        return self.events_table_name

    def attach_ledger(self, ledger: LedgerWriter) -> None:
        self.ledger = ledger

    def attach_projector(self, projector: InTransaction) -> None:
        """Read models in this database: written by each insert, in its transaction."""
        self.projector = projector

    def _require_ledger(self) -> LedgerWriter:
        if self.ledger is None:
            raise RuntimeError("the event store has no ledger attached: refusing to write")
        return self.ledger

    def _enter_in_ledger(
        self, cur: Any, ids: Sequence[int] | None, stored_events: Sequence[StoredEvent]
    ) -> Sequence[int]:
        """Append the entries of events just inserted at ``ids``, and the read-model changes
        they make when a projector is attached, in the same transaction."""
        ledger = self._require_ledger()
        assert ids is not None
        inserted = list(zip(ids, stored_events, strict=True))
        previous = ledger.append(SqlCursor(cur, self.dialect), inserted)
        if self.projector is not None:
            with self._cursor_beside(cur) as beside:
                self.projector.apply(beside, previous, inserted)
        return ids

    @contextmanager
    def _cursor_beside(self, cur: Any) -> Iterator[Any]:
        """A cursor of the same transaction for statements after the ledger's."""
        yield cur

    def read(self) -> AbstractContextManager[SqlCursor]:
        """A cursor for one statement that only reads (one statement sees one snapshot)."""
        return self._transaction(commit=False)

    def write(self) -> AbstractContextManager[SqlCursor]:
        return self._transaction(commit=True)

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[SqlCursor]:
        with self.datastore.transaction(commit=commit) as c:
            yield SqlCursor(c, self.dialect)

    def entries_with_events(self, after_seq: int, limit: int) -> list[EntryWithEvent]:
        """Ledger entries in order, each with its stored event (None columns if missing), as
        tuples of :data:`ENTRY_WITH_EVENT`'s columns: verification reads every row of the log.

        On PostgreSQL the page of entries is taken first and the events are joined by the
        range of its positions: left to itself, the planner joined every entry after
        ``after`` with a scan of the whole events table and sorted the lot on disk before
        the limit (a page of 5,000 out of 20,000 events: 27 ms in the database, then 10).
        """
        columns = "SELECT " + ", ".join(
            ("l." if n in ENTRY_WITH_EVENT[:4] else "e.") + n for n in ENTRY_WITH_EVENT
        )
        on = f"e.{self.position_column} = l.position"
        if self.dialect == "postgres":
            sql = (
                "WITH l AS MATERIALIZED (SELECT seq, position, event_hash, chain_hash"
                " FROM ledger_entries WHERE seq > :after ORDER BY seq LIMIT :limit)"
                f" {columns} FROM l LEFT JOIN {self.events_table} e ON {on}"
                f" AND e.{self.position_column} BETWEEN (SELECT min(position) FROM l)"
                " AND (SELECT max(position) FROM l) ORDER BY l.seq"
            )
        else:
            sql = (
                f"{columns} FROM ledger_entries l LEFT JOIN {self.events_table} e ON {on}"
                " WHERE l.seq > :after ORDER BY l.seq LIMIT :limit"
            )
        with self.read() as cur:
            return cur.tuples(sql, {"after": after_seq, "limit": limit})

    def stored_events_from(self, start: int, limit: int) -> list[tuple[int, StoredEvent]]:
        """Up to ``limit`` stored events from position ``start`` on, with their positions:
        the bulk replay's read. Plain tuples (binary on PostgreSQL) made into
        ``StoredEvent``s, where the library's ``select_notifications`` builds a dict and then
        a ``Notification`` per row (a page of 5,000: ~7.7 -> ~2.6 us per event)."""
        sql = (
            f"SELECT {self.position_column}, originator_id, originator_version, topic, state"
            f" FROM {self.events_table} WHERE {self.position_column} >= :start"
            f" ORDER BY {self.position_column} LIMIT :limit"
        )
        with self.read() as cur:
            rows = cur.tuples(sql, {"start": start, "limit": limit})
        return [
            (position, StoredEvent(_uuid(originator), version, topic, state))
            for position, originator, version, topic, state in rows
        ]

    def first_event_without_entry(self) -> int | None:
        sql = (
            f"SELECT MIN(e.{self.position_column}) AS position FROM {self.events_table} e"
            f" LEFT JOIN ledger_entries l ON l.position = e.{self.position_column}"
            " WHERE l.seq IS NULL"
        )
        with self.read() as cur:
            row = cur.execute(sql).fetchone()
        return None if row is None or row["position"] is None else int(row["position"])

    def aggregates_at_version(self, aggregate_ids: Sequence[UUID], version: int) -> set[UUID]:
        """Which of ``aggregate_ids`` have a stored event at ``version``, in one query."""
        if not aggregate_ids:
            return set()
        params: dict[str, Any] = {f"id{i}": self._stored_id(a) for i, a in enumerate(aggregate_ids)}
        placeholders = ", ".join(f":{name}" for name in params)
        rows = self.query(
            f"SELECT originator_id FROM {self.events_table} WHERE originator_version = :version"
            f" AND originator_id IN ({placeholders})",
            {**params, "version": version},
        )
        found = (r["originator_id"] for r in rows)
        return {f if isinstance(f, UUID) else UUID(str(f)) for f in found}

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The log position of the event ``version`` of ``aggregate_id``."""
        rows = self.query(
            f"SELECT {self.position_column} AS position FROM {self.events_table}"
            " WHERE originator_id = :id AND originator_version = :version",
            {"id": self._stored_id(aggregate_id), "version": version},
        )
        if not rows:
            raise LookupError("no such stored event")
        return int(rows[0]["position"])

    def _stored_id(self, aggregate_id: UUID) -> object:
        """An aggregate id as the engine's events table stores it (SQLite: hex text)."""
        return aggregate_id.hex if self.dialect == "sqlite" else aggregate_id

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.read() as cur:
            return cur.execute(sql, params or {}).fetchall()

    def execute_write(self, sql: str, params: dict[str, Any] | None = None) -> None:
        with self.write() as cur:
            cur.execute(sql, params or {})

    def checkpoint_head(self) -> None:
        """Store the signed head as a checkpoint when it is beyond the latest one.

        One statement, no signing: the head was signed by the write that made it. Safe to
        run from any number of processes at once: a size already stored is left alone.
        """
        self.execute_write(
            "INSERT INTO ledger_checkpoints (size, root_hash, chain_hash, position, timestamp,"
            " signature, public_key) SELECT size, root_hash, chain_hash, position, timestamp,"
            " signature, public_key FROM ledger_head WHERE id = 1"
            " AND size > (SELECT COALESCE(MAX(size), 0) FROM ledger_checkpoints)"
            " ON CONFLICT (size) DO NOTHING"
        )


class SQLiteLedgerRecorder(LedgerRecorder, SQLiteApplicationRecorder):
    dialect: Dialect = "sqlite"
    position_column = "rowid"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SCHEMA]

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._require_ledger()  # before the insert: nothing is written without a ledger
        ids = super()._insert_events(c, stored_events, **kwargs)
        return self._enter_in_ledger(c, ids, stored_events)


class PostgresLedgerRecorder(LedgerRecorder, PostgresApplicationRecorder):
    dialect: Dialect = "postgres"
    position_column = "notification_id"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(SQL(s).format() for s in SCHEMA)
        self.projected_here = ProjectedHere()
        # The library's statements of every write, composed once: psycopg would compose
        # their identifiers again on each execute (the lock's two, the insert, the NOTIFY).
        self.lock_table_statements = [_rendered(s) for s in self.lock_table_statements]
        self.insert_events_statement = _rendered(self.insert_events_statement)
        self._notify = _rendered(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))

    def _notify_channel(self, curs: Any) -> None:
        curs.execute(self._notify)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, its ledger entries and read-model changes in one
        transaction, sent as two query strings (:mod:`storage.one_string`): the lock, the
        NOTIFY, the insert and the reads that travel with it (the ledger head, the claim of
        the tracking rows); then everything written from what they returned, and the commit.

        ``eventsourcing`` 9.5.6 catches what the steps after the insert raise inside the
        transaction block, lets the block exit normally, which commits, and re-raises
        afterwards: half a command would be stored and the head left behind. Here any
        failure rolls the transaction back, so nothing of the command is kept (invariant
        13). Its ``POSTGRES_ENABLE_DB_FUNCTIONS`` path inserts through a stored procedure
        that never reaches the ledger, so it is refused.
        """
        if self.datastore.enable_db_functions:
            raise ProgrammingError("POSTGRES_ENABLE_DB_FUNCTIONS bypasses the audit ledger")
        if not stored_events:
            return None
        with self.datastore.get_connection() as conn, one_string.transaction(conn) as write:
            as_cursor: Any = write  # the library's insert asks only for ``execute``
            self._insert_stored_events(as_cursor, stored_events, **kwargs)
            inserted_at = write.queued - 1
            head_at, claim_at = self._read_with_insert(write)
            results = write.send()  # constraint violations surface here
            ids = self._inserted_ids(results[inserted_at], stored_events)
            claimed = None if claim_at is None else results[claim_at]
            rows = results[head_at].rows
            all_applied = self._enter_after_insert(
                write, ids, stored_events, rows[0] if rows else None, claimed
            )
        if all_applied:  # committed: the block above has exited without an error
            self.projected_here.reached(ids[-1])
        return ids

    def _read_with_insert(self, write: one_string.Statements) -> tuple[int, int | None]:
        """Queue what the ledger and the projections read before they write (the head; the
        claim of the tracking rows, its positions as subqueries), so that both travel with
        the insert, in its string: the table's lock makes the batch's last position the
        highest stored, and the head is still the one before the batch. Their indexes."""
        self._require_ledger()
        head_at = write.execute(HEAD)
        if self.projector is None:
            return head_at, None
        last = f"(SELECT max(notification_id) FROM {self.events_table})"
        self.projector.claim(write, HEAD_POSITION, last)
        return head_at, write.queued - 1

    @staticmethod
    def _inserted_ids(result: one_string.Result, stored_events: Sequence[StoredEvent]) -> list[int]:
        ids = [int(row["notification_id"]) for row in result.rows]
        if not (result.status or "").startswith("INSERT") or len(ids) != len(stored_events):
            raise ProgrammingError(
                f"Couldn't get all notification IDs (got {len(ids)}, expected"
                f" {len(stored_events)}; {result.status})"
            )
        return ids

    def _enter_after_insert(
        self,
        write: one_string.Statements,
        ids: Sequence[int],
        stored_events: Sequence[StoredEvent],
        head_row: dict[str, Any] | None,
        claimed: one_string.Result | None,
    ) -> bool:
        """:meth:`_enter_in_ledger`, from what :meth:`_read_with_insert` read; whether every
        in-transaction projection was applied with the events."""
        inserted = list(zip(ids, stored_events, strict=True))
        previous = self._require_ledger().append_after(
            SqlCursor(write, self.dialect), head_row, inserted
        )
        if self.projector is None or claimed is None:
            return False
        advanced = self.projector.claimed(claimed, inserted[-1][0])
        self.projector.apply(write, previous, inserted, advanced)
        all_applied = previous != 0 and advanced.issuperset(self.projector.names)
        self.projected_here.committed(write.connection.info.backend_pid, all_applied)
        return all_applied

    @contextmanager
    def read(self) -> Iterator[SqlCursor]:
        """On the library's pool, whose connections are in autocommit: the statement alone,
        one round trip, where a transaction around it would add a BEGIN and a ROLLBACK (a
        command's load reads its snapshot here before its events)."""
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            yield SqlCursor(cur, self.dialect)
