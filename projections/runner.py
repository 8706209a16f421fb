"""The read-model runner: reads the notification log once per batch, feeds every projection.

Each projection keeps its own tracking position, so one can be rebuilt (or lag) without
the others. ``catch_up`` is safe to call from several threads and processes at once: each
batch commits with a compare-and-set of its projection's position, so an event is applied
exactly once whoever gets there first. Events can also arrive from elsewhere (the Kafka
topic): :func:`apply_batch` is the one place either source applies a batch.

Why not the library's ``eventsourcing.projection.ProjectionRunner`` (and its
``Projection``; the names here differ so the two are never confused in an import):

- it constructs its own application from a class and environment variables, where the
  service has one ``CRM`` built by the bootstrap (its sealer, ledger recorders, clock);
- it runs one projection per runner, each with its own subscription to the log and its
  own thread, where this reads each batch once for all eleven read models and commits
  them in one transaction;
- its projection gets one event at a time and tracks one position per upstream
  application, where read-your-writes needs ``catch_up`` called synchronously after a
  command, rebuilds need shadow tables and their own tracking names, and the Kafka feed
  needs a position per partition (:func:`apply_batch`);
- it offers no lag (in events or seconds) for ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Tracking

from projections.store import Batch, ReadModelStore, StaleBatch, Write

log = logging.getLogger("crm.projections")

_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)", re.I)
_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)", re.I
)

Progress = Callable[[int], None]


class ReadModelProjection(ABC):
    """Turns one stored event into read-model writes. Pure: no I/O of its own.

    ``schema`` creates the projection's tables and indexes; a rebuild creates them again
    under other names and rewrites the statements from ``writes_for`` to match, so table
    names must appear in the SQL as whole words (``contacts_view``, not built by pieces).
    """

    name: str
    schema: Sequence[str]
    # Its writes only insert rows that no other of its writes touches, so their order does
    # not matter: a batch runs them grouped by statement (one ``executemany`` per table
    # rather than one statement per row, as alternating tables would make it).
    inserts_only: bool = False

    @abstractmethod
    def writes_for(self, event: Any, position: int) -> list[Write]:
        """The statements that bring this read model up to date with ``event``."""

    @property
    def tables(self) -> list[str]:
        """The tables this projection owns, as its schema creates them."""
        return [m.group(1) for s in self.schema if (m := _CREATE_TABLE.match(s))]

    @property
    def indexes(self) -> list[str]:
        """The named indexes its schema creates."""
        return [m.group(1) for s in self.schema if (m := _CREATE_INDEX.match(s))]


@dataclass(frozen=True)
class Lag:
    """How far a projection is behind the log: events not yet applied, and the age in
    seconds of the oldest of them (0 when caught up)."""

    events: int
    seconds: float


class ReadModelRunner:
    """Applies the log to a set of projections, exactly once each."""

    def __init__(
        self,
        app: Application[Any],
        store: ReadModelStore,
        projections: Sequence[ReadModelProjection],
        batch_size: int = 500,
    ) -> None:
        self.app = app
        self.store = store
        self.projections = list(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def positions(self) -> dict[str, int]:
        tracked = self.store.tracked()  # one query for all, rather than one per projection
        return {p.name: tracked.get(p.name, 0) for p in self.projections}

    def reached(self, position: int) -> bool:
        """Whether every projection has applied the log up to ``position``."""
        return min(self.positions().values(), default=0) >= position

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply everything in the log not yet applied; return the lowest position reached.

        ``progress`` is called with that position after every batch.
        """
        with self._lock:
            while True:
                positions = self.positions()
                start = min(positions.values(), default=0) + 1
                notifications = self.app.recorder.select_notifications(
                    start=start, limit=self.batch_size
                )
                if not notifications:
                    return start - 1
                events = [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]
                if not self._apply_together(positions, events):
                    for projection in self.projections:
                        apply_batch(
                            self.store,
                            projection,
                            projection.name,
                            positions[projection.name],
                            events,
                        )
                if progress is not None:
                    progress(min(self.positions().values(), default=0))

    def _apply_together(self, positions: dict[str, int], events: Sequence[tuple[int, Any]]) -> bool:
        """Every projection's batch in one transaction (one commit instead of one per
        projection); False when a position moved or a write failed, so the caller applies
        them one by one and each projection settles its own race, as before."""
        batches: list[Batch] = []
        for projection in sorted(self.projections, key=lambda p: p.name):
            position = positions[projection.name]
            last, writes = pending_writes(projection, position, events)
            if last > position:
                batches.append((Tracking(projection.name, last), writes, position))
        if not batches:
            return True
        try:
            self.store.apply_many(batches)
        except IntegrityError:  # StaleBatch included: another runner got there first
            return False
        return True

    def lag(self) -> dict[str, Lag]:
        """Per projection, how far behind the log head it is."""
        head = self.head()
        ages: dict[int, float] = {}
        result = {}
        for name, position in self.positions().items():
            behind = max(head - position, 0)
            if behind and position not in ages:
                ages[position] = self._age_of(position + 1)
            result[name] = Lag(behind, ages.get(position, 0.0) if behind else 0.0)
        return result

    def _age_of(self, position: int) -> float:
        found = self.app.recorder.select_notifications(start=position, limit=1)
        if not found:
            return 0.0
        timestamp = getattr(self.app.mapper.to_domain_event(found[0]), "timestamp", None)
        if not isinstance(timestamp, datetime):
            return 0.0
        return max((datetime.now(UTC) - timestamp).total_seconds(), 0.0)


def pending_writes(
    projection: ReadModelProjection, position: int, events: Sequence[tuple[int, Any]]
) -> tuple[int, list[Write]]:
    """The writes for the events after ``position`` (skipping repeats, as a redelivered
    Kafka partition has), and the position they reach."""
    writes: list[Write] = []
    last = position
    for notification_id, event in events:
        if notification_id <= last:
            continue
        writes.extend(projection.writes_for(event, notification_id))
        last = notification_id
    if projection.inserts_only:
        writes.sort(key=itemgetter(0))  # stable: each table's rows keep their order
    return last, writes


def apply_batch(
    store: ReadModelStore,
    projection: ReadModelProjection,
    tracking_name: str,
    position: int,
    events: Sequence[tuple[int, Any]],
) -> int:
    """Apply the events after ``position`` in one transaction that moves ``tracking_name``
    from ``position`` to the last of them; return the position the projection is at.

    Events at or below the position (or below one applied earlier in the batch) are
    skipped, so a batch may hold repeats, as a redelivered Kafka partition does. If
    another runner moved the position first, nothing is written.
    """
    last, writes = pending_writes(projection, position, events)
    if last == position:
        return position
    try:
        store.apply(Tracking(tracking_name, last), writes, previous=position)
    except StaleBatch:
        log.debug("projection %s: batch after %s already applied", tracking_name, position)
        return store.max_tracking_id(tracking_name) or 0
    except IntegrityError:
        now = store.max_tracking_id(tracking_name) or 0
        if now == position:
            raise  # nobody else moved the position: the writes themselves are wrong
        log.debug("projection %s: raced past %s", tracking_name, position)
        return now
    return last
