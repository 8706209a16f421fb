"""Rebuilding read models from position zero, without downtime for readers.

Each projection is run again into fresh tables (``contacts_view__rebuild``...) under its
own tracking name, while the live tables keep serving and the live runner keeps applying
new events to them. When the rebuild has caught up, one transaction drops the live tables,
renames the rebuilt ones into their place and hands the rebuilt tracking position to the
live name; the live runner then carries on from there, on the new tables.

The bulk of the log goes through :func:`_replay` rather than the live runner, in large
batches: the next one is read, and the one after it decoded, while a batch commits; and a
projection that can fold a batch (:class:`FoldsBatches`) writes once per row it touches
rather than once per event. No one reads the rebuilt tables before the swap, so only the
state a batch commits must equal the live one. A race with another runner (or any refused
batch) leaves the rest to the live runner's ``catch_up``, which settles it exactly once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    StoredEvent,
    Tracking,
)

from projections.runner import ReadModelProjection, ReadModelRunner
from projections.store import Batch, ReadModelStore, Swap, Write

log = logging.getLogger("crm.projections")

REBUILD_SUFFIX = "__rebuild"
SWAP_ATTEMPTS = 5
# Notifications the bulk replay reads, folds and commits at a time. No one waits on the
# rebuilt tables, so a rebuild's batches are sized for throughput (fewer round trips and
# flushes), not for read-your-writes latency as the live runner's are.
REPLAY_BATCH = 5000

RebuildProgress = Callable[[int, int], None]
Events = Sequence[tuple[int, Any]]


@runtime_checkable
class ReadsInBulk(Protocol):
    """A recorder with a cheaper read of the log than the library's
    ``select_notifications`` (:meth:`storage.recorders.LedgerRecorder.stored_events_from`)."""

    def stored_events_from(self, start: int, limit: int) -> list[tuple[int, StoredEvent]]: ...


@runtime_checkable
class FoldsBatches(Protocol):
    """A projection whose batch of events can come out as fewer writes than one per event,
    leaving the tables as the events applied one by one would."""

    def writes_for_batch(self, events: Events) -> list[Write]: ...


class RebuildingProjection(ReadModelProjection):
    """A live projection writing into renamed tables, tracked as ``<name>__rebuild``."""

    def __init__(self, live: ReadModelProjection, suffix: str = REBUILD_SUFFIX) -> None:
        self.live = live
        self.suffix = suffix
        self.name = live.name + suffix
        names = sorted({*live.tables, *live.indexes}, key=len, reverse=True)
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b") if names else None
        )
        self.rename = lru_cache(maxsize=1024)(self._rename)
        self.schema = [self.rename(s) for s in live.schema]

    def _rename(self, sql: str) -> str:
        if self._pattern is None:
            return sql
        return self._pattern.sub(lambda m: m.group(1) + self.suffix, sql)

    def writes_for(self, event: Any, position: int) -> list[Write]:
        return [(self.rename(sql), params) for sql, params in self.live.writes_for(event, position)]

    def writes_for_batch(self, events: Events) -> list[Write]:
        """The live projection's writes for the whole batch, folded when it can fold them."""
        if isinstance(self.live, FoldsBatches):
            writes = self.live.writes_for_batch(events)
        else:
            writes = [w for position, e in events for w in self.live.writes_for(e, position)]
        return [(self.rename(sql), params) for sql, params in writes]

    def swap(self) -> Swap:
        return Swap(
            live_name=self.live.name,
            rebuilt_name=self.name,
            tables=self.live.tables,
            indexes=self.live.indexes,
            live_schema=list(self.live.schema),
            suffix=self.suffix,
        )


def select(
    projections: Sequence[ReadModelProjection], name: str | None
) -> list[ReadModelProjection]:
    """All projections, or the one called ``name`` (a ValueError names the known ones)."""
    if name is None:
        return list(projections)
    chosen = [p for p in projections if p.name == name]
    if not chosen:
        known = ", ".join(p.name for p in projections)
        raise ValueError(f"no projection called {name!r} (known: {known})")
    return chosen


def rebuild(
    app: Application[Any],
    store: ReadModelStore,
    projections: Sequence[ReadModelProjection],
    *,
    batch_size: int = 500,
    progress: RebuildProgress | None = None,
    replay_batch: int = REPLAY_BATCH,
) -> int:
    """Rebuild ``projections`` from the start of the log and swap them in; return the
    position the swapped-in read models are at.

    The bulk replay goes ``replay_batch`` events per transaction, reporting progress after
    each; the live runner's ``batch_size`` applies what arrives after it.
    """
    rebuilding = [RebuildingProjection(p) for p in projections]
    for projection in rebuilding:
        store.discard(projection.tables, projection.name)  # what an interrupted run left
        store.create_tables(projection.schema)
    runner = ReadModelRunner(app, store, rebuilding, batch_size=batch_size)
    target = runner.head()

    def report(reached: int) -> None:
        if progress is not None:
            progress(reached, max(target, reached))

    report(0)
    if rebuilding:
        _replay(store, rebuilding, _decoded(app, replay_batch), report)
    runner.catch_up(progress=report)  # whatever _replay left to settle, if anything
    reached = runner.catch_up()  # whatever arrived meanwhile, to keep the hand-over short
    settle = SettleOnSwap(app, rebuilding, store)
    _swap(store, [p.swap() for p in rebuilding], settle)
    reached = max(reached, settle.reached)
    log.info(
        "rebuilt projections",
        extra={"projections": [p.live.name for p in rebuilding], "position": reached},
    )
    return reached


def _replay(
    store: ReadModelStore,
    rebuilding: Sequence[RebuildingProjection],
    batches: Iterator[Events],
    progress: Callable[[int], None],
) -> None:
    """Apply the log from the start to the just-emptied rebuild tables, one transaction per
    batch, moving every projection's tracking from where the last batch left it; stop at
    the first batch refused (another runner moved a position, or a write failed).

    Each batch commits in a thread while the next is decoded and folded, so the database's
    time and ours overlap; only one is ever in flight, and none starts before the one
    before it committed.
    """
    ordered = sorted(rebuilding, key=lambda p: p.name)  # the lock order apply_many expects
    position = 0
    with ThreadPoolExecutor(1, thread_name_prefix="rebuild-write") as writer:
        committing: Future[int | None] | None = None
        for events in batches:
            reached = events[-1][0]
            batch = [
                (Tracking(p.name, reached), p.writes_for_batch(events), position) for p in ordered
            ]
            if committing is not None and not _committed(committing, progress):
                return
            committing = writer.submit(_commit, store, batch, reached)
            position = reached
        if committing is not None:
            _committed(committing, progress)


def _commit(store: ReadModelStore, batch: Sequence[Batch], reached: int) -> int | None:
    """Commit one batch of every projection: the position reached, or None if refused."""
    try:
        store.apply_many(batch)
    except IntegrityError:
        log.info("rebuild batch refused; the runner settles the rest", extra={"to": reached})
        return None
    return reached


def _committed(committing: Future[int | None], progress: Callable[[int], None]) -> bool:
    """Wait for the batch in flight; report how far it got, or False if it was refused."""
    reached = committing.result()
    if reached is None:
        return False
    progress(reached)
    return True


def _decoded(app: Application[Any], size: int) -> Iterator[Events]:
    """The log from the start, decoded, in batches of ``size``."""
    to_domain_event = app.mapper.to_domain_event
    for page in _pages(app, size):
        yield [(position, to_domain_event(stored)) for position, stored in page]


def _pages(app: Application[Any], size: int) -> Iterator[Sequence[tuple[int, StoredEvent]]]:
    """The log from the start in pages of ``size``, the next page read in a thread while
    this one is applied, so the database's time and the decoding overlap."""
    read = _reader(app)
    with ThreadPoolExecutor(1, thread_name_prefix="rebuild-read") as reader:
        page = read(1, size)
        while page:
            following = reader.submit(read, page[-1][0] + 1, size)
            yield page
            page = following.result()


def _reader(app: Application[Any]) -> Callable[[int, int], list[tuple[int, StoredEvent]]]:
    recorder = app.recorder
    if not isinstance(recorder, ReadsInBulk):  # the service's recorders all do
        raise TypeError(f"{type(recorder).__name__} has no bulk read of the log to replay")
    return recorder.stored_events_from


class SettleOnSwap:
    """The swap's last step before it renames, in its transaction, the tracking rows locked:
    the events the live tables took after the rebuilt ones' last catch-up (commands applying
    projections in their own transaction, the live runner) are applied to the rebuilt
    tables, so each live name is handed a position at least as far as its own. Without it,
    the live name would go back to the rebuilt position, and readers would see the read
    models go back in time until the runner applied those events again."""

    def __init__(
        self,
        app: Application[Any],
        rebuilding: Sequence[RebuildingProjection],
        store: ReadModelStore,
    ) -> None:
        self.read = _reader(app)
        self.decode = app.mapper.to_domain_event
        self.rebuilding = sorted(rebuilding, key=lambda p: p.name)  # the order rows lock
        self.store = store
        self.reached = 0  # the furthest position the last call brought a projection to

    def __call__(self, cur: Any, locked: Mapping[str, int]) -> None:
        self.reached = 0
        behind = [
            (p, locked.get(p.name, 0), locked.get(p.live.name, 0))
            for p in self.rebuilding
            if locked.get(p.name, 0) < locked.get(p.live.name, 0)
        ]
        if not behind:
            return
        start = min(rebuilt for _, rebuilt, _ in behind)
        end = max(live for _, _, live in behind)
        events = [(at, self.decode(stored)) for at, stored in self.read(start + 1, end - start)]
        for projection, rebuilt, live in behind:
            mine = [(at, event) for at, event in events if rebuilt < at <= live]
            writes = projection.writes_for_batch(mine)
            self.store.apply_on(cur, Tracking(projection.name, live), writes, rebuilt)
        self.reached = end
        log.info("rebuilt read models settled at the swap", extra={"from": start, "to": end})


def _swap(store: ReadModelStore, swaps: list[Swap], settle: SettleOnSwap) -> None:
    """A long reader can hold a table past the swap's lock timeout: try again (the settle
    with it: what it wrote was rolled back with the swap)."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            store.swap_in(swaps, settle)
            return
        except OperationalError:
            if attempt == SWAP_ATTEMPTS:
                raise
            log.warning("swap of rebuilt read models waited too long; retrying")
