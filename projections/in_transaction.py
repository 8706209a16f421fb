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

    def queue_advance_on(self, cur: Any, names: Sequence[str], previous: str, new: str) -> None: ...

    def advanced_on(self, cur: Any, new: int) -> set[str]: ...

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

    def apply(
        self,
        cur: Any,
        previous: int,
        events: Sequence[tuple[int, StoredEvent]],
        advanced: set[str] | None = None,
    ) -> None:
        """Project ``events`` (position, stored event), which follow ``previous``, the
        last position stored before them, on ``cur`` (the inserting transaction's), for
        each projection that was at ``previous``: those ``advanced`` when they were claimed
        already (:meth:`claim`), else claimed here."""
        if not events or previous == 0:
            return  # a log's first events: the runner claims the tracking rows
        if advanced is None:
            advanced = self.store.advance_on(cur, self.names, previous, events[-1][0])
        if not advanced:
            return
        decoded = [(position, self.mapper.to_domain_event(stored)) for position, stored in events]
        for projection in self.projections:
            if projection.name in advanced:
                _, writes = pending_writes(projection, previous, decoded)
                self.store.write_on(cur, writes)

    def claim(self, cur: Any, previous: str, new: str) -> None:
        """Queue the claim of the tracking rows with the positions as SQL the statement
        evaluates (the ledger head's position before the batch, the batch's last position),
        so that on PostgreSQL it goes out with the insert, in its round trip; what it
        claimed is :meth:`claimed`. No row is at the position of an empty log's head."""
        self.store.queue_advance_on(cur, self.names, previous, new)

    def claimed(self, cur: Any, new: int) -> set[str]:
        """The projections :meth:`claim` moved to ``new``, the batch's last position."""
        return self.store.advanced_on(cur, new)
