"""Read models written in the transaction that stores the events (issue 15).

When the read models live in the event store's database (PostgreSQL by default; SQLite
when both are one file), a command's events, their ledger entries, the read-model rows
they change and the projections' tracking positions commit together: one commit, one
flush, and read-your-writes without waiting for anyone (DESIGN invariants 5 and 6).

Exactly once still rests on the tracking rows. Inside the write, the event table's lock is
held, so the ledger head is the last event stored before this batch; a projection is
applied here only if its tracking row is at that very position, and the same statement
moves it past the batch. A projection that is behind (events written by a process that
does not project, a rebuild just swapped in, a first start) is left to the runner, which
catches it up from its own position: the two never apply an event twice, because each
moves the row with a compare-and-set in the transaction that writes the rows.

A projection that raises fails the command: nothing of it is stored (invariant 13).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.persistence import Mapper, StoredEvent

from projections.runner import ReadModelProjection, pending_writes
from projections.store import Write


class SameDatabaseStore(Protocol):
    """The read-model store's operations on another transaction's cursor."""

    def advance_on(self, cur: Any, names: Sequence[str], previous: int, new: int) -> set[str]: ...

    def write_on(self, cur: Any, writes: Sequence[Write]) -> None: ...


class InTransactionProjector:
    """Applies the projections to freshly inserted events, on the inserting cursor."""

    def __init__(
        self,
        mapper: Mapper[Any],
        store: SameDatabaseStore,
        projections: Sequence[ReadModelProjection],
    ) -> None:
        self.mapper = mapper
        self.store = store
        self.projections = sorted(projections, key=lambda p: p.name)
        self.names = [p.name for p in self.projections]

    def apply(self, cur: Any, previous: int, events: Sequence[tuple[int, StoredEvent]]) -> None:
        """Project ``events`` (position, stored event), which follow ``previous``, the
        last position stored before them, on ``cur`` (the inserting transaction's), for
        each projection that was at ``previous``."""
        if not events or previous == 0:
            return  # a log's first events: the runner claims the tracking rows
        advanced = self.store.advance_on(cur, self.names, previous, events[-1][0])
        if not advanced:
            return
        decoded = [(position, self.mapper.to_domain_event(stored)) for position, stored in events]
        for projection in self.projections:
            if projection.name in advanced:
                _, writes = pending_writes(projection, previous, decoded)
                self.store.write_on(cur, writes)
