"""The audit ledger inside the event store: one entry per event, in the same transaction.

The recorders (:mod:`storage.recorders`) extend the library's application recorders:
when a transaction inserts events, :class:`LedgerWriter` appends their ledger entries
(hash of the stored bytes, and the chain hash) and advances the signed head. It stores a
signed checkpoint for the very first entry (so a log with an entry always has one) and
every ``CheckpointPolicy.events`` entries; between those, the recorders' ``checkpoint_head``
(run on a timer by the long-running processes) stores the signed head as a checkpoint, so
every entry is covered within a bounded delay whether or not more writes come. Writers are
already serialised (PostgreSQL: the events table's EXCLUSIVE lock; SQLite: the database
write lock), so the head read here is always the latest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    StoredEvent,
)

from crypto.ledger import GENESIS, SignedTreeHead, TreeHead, chain_hash, event_hash
from crypto.merkle import Frontier, leaf_hash
from crypto.signing import Signer
from sqlstore.sql import SqlCursor, as_multi_row

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

    @property
    def names(self) -> Sequence[str]:
        """The projections it applies."""
        ...

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
