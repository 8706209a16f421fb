"""The projection runner: reads the notification log once per batch, feeds every projection.

Each projection keeps its own tracking position, so one can be rebuilt (or lag) without
the others. ``catch_up`` is safe to call from several threads and processes at once.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Tracking

from projections.store import ReadModelStore, Write

log = logging.getLogger("crm.projections")


class Projection(ABC):
    """Turns one stored event into read-model writes. Pure: no I/O of its own."""

    name: str
    schema: Sequence[str]

    @abstractmethod
    def writes_for(self, event: Any, position: int) -> list[Write]:
        """The statements that bring this read model up to date with ``event``."""


class ProjectionRunner:
    """Applies the log to a set of projections, exactly once each."""

    def __init__(
        self,
        app: Application[Any],
        store: ReadModelStore,
        projections: Sequence[Projection],
        batch_size: int = 500,
    ) -> None:
        self.app = app
        self.store = store
        self.projections = list(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def positions(self) -> dict[str, int]:
        return {p.name: self.store.max_tracking_id(p.name) or 0 for p in self.projections}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def catch_up(self) -> int:
        """Apply everything in the log not yet applied; return the lowest position reached."""
        with self._lock:
            while True:
                positions = self.positions()
                start = min(positions.values()) + 1
                notifications = self.app.recorder.select_notifications(
                    start=start, limit=self.batch_size
                )
                if not notifications:
                    return start - 1
                events = [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]
                for projection in self.projections:
                    self._apply(projection, positions[projection.name], events)

    def _apply(self, projection: Projection, position: int, events: list[tuple[int, Any]]) -> None:
        writes: list[Write] = []
        last = position
        for notification_id, event in events:
            if notification_id <= position:
                continue
            writes.extend(projection.writes_for(event, notification_id))
            last = notification_id
        if last == position:
            return
        try:
            self.store.apply(Tracking(projection.name, last), writes)
        except IntegrityError:
            # Another process applied this batch first; its writes are the same as ours.
            log.debug("projection %s: batch up to %s already applied", projection.name, last)
