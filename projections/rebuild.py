"""Rebuilding read models from position zero, without downtime for readers.

Each projection is run again into fresh tables (``contacts_view__rebuild``...) under its
own tracking name, while the live tables keep serving and the live runner keeps applying
new events to them. When the rebuild has caught up, one transaction drops the live tables,
renames the rebuilt ones into their place and hands the rebuilt tracking position to the
live name; the live runner then carries on from there, on the new tables.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import OperationalError

from projections.runner import ReadModelProjection, ReadModelRunner
from projections.store import ReadModelStore, Swap, Write

log = logging.getLogger("crm.projections")

REBUILD_SUFFIX = "__rebuild"
SWAP_ATTEMPTS = 5

RebuildProgress = Callable[[int, int], None]


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
) -> int:
    """Rebuild ``projections`` from the start of the log and swap them in; return the
    position the swapped-in read models are at."""
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
    runner.catch_up(progress=report)
    reached = runner.catch_up()  # whatever arrived meanwhile, to keep the hand-over short
    _swap(store, [p.swap() for p in rebuilding])
    log.info(
        "rebuilt projections",
        extra={"projections": [p.live.name for p in rebuilding], "position": reached},
    )
    return reached


def _swap(store: ReadModelStore, swaps: list[Swap]) -> None:
    """A long reader can hold a table past the swap's lock timeout: try again."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            store.swap_in(swaps)
            return
        except OperationalError:
            if attempt == SWAP_ATTEMPTS:
                raise
            log.warning("swap of rebuilt read models waited too long; retrying")
