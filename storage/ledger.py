"""The audit ledger inside the event store: one entry per event, in the same transaction.

The recorders below extend the library's application recorders. When a transaction
inserts events, it also appends their ledger entries (hash of the stored bytes, and the
chain hash) and advances the signed head. It stores a signed checkpoint for the very first
entry (so a log with an entry always has one) and every ``CheckpointPolicy.events``
entries; between those, :meth:`LedgerRecorder.checkpoint_head` (run on a timer by the
long-running processes) stores the signed head as a checkpoint, so every entry is covered
within a bounded delay whether or not more writes come. Writers are already serialised
(PostgreSQL: the events table's EXCLUSIVE lock; SQLite: the database write lock), so the
head read here is always the latest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL

from crypto.ledger import GENESIS, SignedTreeHead, TreeHead, chain_hash, event_hash
from crypto.merkle import Frontier, leaf_hash
from crypto.signing import Signer
from sqlstore.sql import Dialect, SqlCursor, as_multi_row

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

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        seq BIGINT PRIMARY KEY,
        position BIGINT NOT NULL UNIQUE,
        event_hash TEXT NOT NULL,
        chain_hash TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS ledger_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL,
        position BIGINT NOT NULL,
        chain_hash TEXT NOT NULL,
        root_hash TEXT NOT NULL,
        frontier TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        signature TEXT NOT NULL,
        public_key TEXT NOT NULL,
        checkpoint_size BIGINT NOT NULL,
        checkpoint_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        size BIGINT PRIMARY KEY,
        root_hash TEXT NOT NULL,
        chain_hash TEXT NOT NULL,
        position BIGINT NOT NULL,
        timestamp TEXT NOT NULL,
        signature TEXT NOT NULL,
        public_key TEXT NOT NULL
    )""",
]


HEAD = "SELECT * FROM ledger_head WHERE id = 1"
ENTRY = (
    "INSERT INTO ledger_entries (seq, position, event_hash, chain_hash)"
    " VALUES (:seq, :position, :event_hash, :chain_hash)"
)
HEAD_POSITION = "(SELECT position FROM ledger_head WHERE id = 1)"  # until the write moves it


class InTransaction(Protocol):
    """What an insert calls after the ledger: :mod:`projections.in_transaction`."""

    def apply(
        self,
        cur: Any,
        previous: int,
        events: Sequence[tuple[int, StoredEvent]],
        advanced: set[str] | None = None,
    ) -> None: ...

    def claim(self, cur: Any, previous: str, new: str) -> None: ...

    def claimed(self, cur: Any, new: int) -> set[str]: ...


@dataclass(frozen=True)
class CheckpointPolicy:
    """Which checkpoints a write stores in its own transaction: the first entry's, then one
    every ``events`` entries. Time-bounded coverage is the checkpointer's job, not a
    write's: a quiet log has no next write to wait for."""

    events: int = 1000


@dataclass
class _Head:
    size: int
    position: int
    chain: bytes
    frontier: Frontier
    checkpoint_size: int
    checkpoint_at: float


class LedgerWriter:
    """Appends entries for freshly inserted events and advances the signed head."""

    def __init__(
        self,
        signer: Signer,
        policy: CheckpointPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.policy = policy
        self.clock = clock

    def append(self, cur: SqlCursor, events: Sequence[tuple[int, StoredEvent]]) -> int:
        """Enter ``events`` (position, stored event); return the position of the last event
        entered before them (0 for the log's first), the position they follow."""
        return self.append_after(cur, cur.execute(HEAD).fetchone(), events)

    def append_after(
        self,
        cur: SqlCursor,
        head_row: Mapping[str, Any] | None,
        events: Sequence[tuple[int, StoredEvent]],
    ) -> int:
        """:meth:`append`, the head already read (``head_row``, :data:`HEAD`'s row, None
        for an empty ledger) in the write's transaction, with the table's lock held."""
        head = self._head(head_row)
        previous = head.position
        if not events:
            return previous
        rows = [self._append_one(cur, head, position, stored) for position, stored in events]
        for sql, params in as_multi_row(ENTRY, rows):
            cur.execute(sql, params)
        self._advance(cur, head)
        return previous

    def _append_one(
        self, cur: SqlCursor, head: _Head, position: int, stored: StoredEvent
    ) -> dict[str, Any]:
        """Extend the chain and the tree by one event; the ledger's first entry is
        checkpointed at once, so a log that has an entry never lacks a checkpoint."""
        digest = event_hash(
            position,
            UUID(str(stored.originator_id)),
            stored.originator_version,
            stored.topic,
            bytes(stored.state),
        )
        head.chain = chain_hash(head.chain, digest)
        head.frontier.append(leaf_hash(digest))
        head.size += 1
        head.position = position
        if head.size == 1:
            store_checkpoint(cur, self._sign(head, self.clock()))
            head.checkpoint_size = 1
        return {
            "seq": head.size,
            "position": position,
            "event_hash": digest.hex(),
            "chain_hash": head.chain.hex(),
        }

    def _head(self, row: Mapping[str, Any] | None) -> _Head:
        if row is None:
            return _Head(0, 0, GENESIS, Frontier(), 0, self.clock())
        nodes = [bytes.fromhex(h) for h in orjson.loads(row["frontier"])]
        return _Head(
            int(row["size"]),
            int(row["position"]),
            bytes.fromhex(row["chain_hash"]),
            Frontier(int(row["size"]), nodes),
            int(row["checkpoint_size"]),
            float(row["checkpoint_at"]),
        )

    def _sign(self, head: _Head, now: float) -> SignedTreeHead:
        return TreeHead(
            size=head.size,
            root_hash=head.frontier.root().hex(),
            chain_hash=head.chain.hex(),
            position=head.position,
            timestamp=datetime.fromtimestamp(now, UTC).isoformat(),
        ).sign(self.signer)

    def _advance(self, cur: SqlCursor, head: _Head) -> None:
        now = self.clock()
        signed = self._sign(head, now)
        if head.size - head.checkpoint_size >= self.policy.events:
            store_checkpoint(cur, signed)
            head.checkpoint_size, head.checkpoint_at = head.size, now
        cur.execute(
            "INSERT INTO ledger_head (id, size, position, chain_hash, root_hash, frontier,"
            " timestamp, signature, public_key, checkpoint_size, checkpoint_at) VALUES (1,"
            " :size, :position, :chain_hash, :root_hash, :frontier, :timestamp, :signature,"
            " :public_key, :checkpoint_size, :checkpoint_at) ON CONFLICT (id) DO UPDATE SET"
            " size = :size, position = :position, chain_hash = :chain_hash,"
            " root_hash = :root_hash, frontier = :frontier, timestamp = :timestamp,"
            " signature = :signature, public_key = :public_key,"
            " checkpoint_size = :checkpoint_size, checkpoint_at = :checkpoint_at",
            {
                **signed.as_dict(),
                "frontier": orjson.dumps([n.hex() for n in head.frontier.nodes]).decode(),
                "checkpoint_size": head.checkpoint_size,
                "checkpoint_at": head.checkpoint_at,
            },
        )


def store_checkpoint(cur: SqlCursor, signed: SignedTreeHead) -> None:
    cur.execute(
        "INSERT INTO ledger_checkpoints (size, root_hash, chain_hash, position, timestamp,"
        " signature, public_key) VALUES (:size, :root_hash, :chain_hash, :position,"
        " :timestamp, :signature, :public_key) ON CONFLICT (size) DO NOTHING",
        signed.as_dict(),
    )


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

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, except that a failure after the INSERT rolls back.

        ``eventsourcing`` 9.5.6 catches what the steps after the insert raise (here: the
        ledger entries, the head and its signature, the checkpoint) inside the transaction
        block, lets the block exit normally, which commits, and re-raises afterwards: half a
        command would be stored and the head left behind. Here the block is left with
        :class:`psycopg.Rollback` instead, so nothing of the command is kept (invariant 13).
        Its ``POSTGRES_ENABLE_DB_FUNCTIONS`` path inserts through a stored procedure that
        never reaches the ledger, so it is refused.
        """
        if self.datastore.enable_db_functions:
            raise ProgrammingError("POSTGRES_ENABLE_DB_FUNCTIONS bypasses the audit ledger")
        failure: Exception | None = None
        ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline, conn.transaction():
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if stored_events:
                    with conn.cursor() as curs, conn.cursor() as head, conn.cursor() as claim:
                        try:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            self._read_with_insert(head, claim)
                            pipeline.sync()  # constraint violations surface here
                            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                            self._enter_after_insert(curs, ids, stored_events, head, claim)
                        except Exception as exc:
                            failure = exc
                    if failure is not None:
                        raise psycopg.Rollback
            if failure is not None:
                raise failure  # outside the pipeline block, as the library does
        return ids

    def _read_with_insert(self, head: Any, claim: Any) -> None:
        """Queue what the ledger and the projections read before they write (the head; the
        claim of the tracking rows, its positions as subqueries), so that both travel with
        the insert, in its round trip: the table's lock makes the batch's last position
        the highest stored, and the head is still the one before the batch."""
        self._require_ledger()
        head.execute(HEAD)
        if self.projector is not None:
            last = f"(SELECT max(notification_id) FROM {self.events_table})"
            self.projector.claim(claim, HEAD_POSITION, last)

    def _enter_after_insert(
        self,
        curs: Any,
        ids: Sequence[int] | None,
        stored_events: Sequence[StoredEvent],
        head: Any,
        claim: Any,
    ) -> None:
        """:meth:`_enter_in_ledger`, from what :meth:`_read_with_insert` read."""
        assert ids is not None
        inserted = list(zip(ids, stored_events, strict=True))
        previous = self._require_ledger().append_after(
            SqlCursor(curs, self.dialect), head.fetchone(), inserted
        )
        if self.projector is not None:
            advanced = self.projector.claimed(claim, inserted[-1][0])
            with self._cursor_beside(curs) as beside:
                self.projector.apply(beside, previous, inserted, advanced)

    @contextmanager
    def read(self) -> Iterator[SqlCursor]:
        """On the library's pool, whose connections are in autocommit: the statement alone,
        one round trip, where a transaction around it would add a BEGIN and a ROLLBACK (a
        command's load reads its snapshot here before its events)."""
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            yield SqlCursor(cur, self.dialect)

    @contextmanager
    def _cursor_beside(self, cur: Any) -> Iterator[Any]:
        """A new cursor on the insert's connection: in psycopg's pipeline mode, a result
        fetched on the cursor that just ran the ledger's statements can be one of theirs
        (seen: ``the last operation didn't produce records (INSERT 0 1)``, the head's)."""
        with cur.connection.cursor() as beside:
            yield beside
