"""A rebuild's bulk replay: folded batches, each committed while the next is prepared, must
leave the read models the live projections produced, however the log is cut into batches,
and a batch the store refuses leaves the rest to the runner, applied exactly once.

Run against SQLite and PostgreSQL alike (the ``service`` fixture is parametrised).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from projections.rebuild import rebuild
from projections.store import Batch, ReadModelStore, StaleBatch
from service.bootstrap import Service
from tests.snapshots import snapshot, write_history


class RefusesOneBatch:
    """The service's store, but the ``nth`` batch of the replay is refused unwritten, as
    when another runner moved a tracking position first."""

    def __init__(self, store: ReadModelStore, nth: int) -> None:
        self.store = store
        self.nth = nth
        self.calls = 0
        self.refused = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def apply_many(self, batches: Sequence[Batch]) -> None:
        self.calls += 1
        if self.calls == self.nth:
            self.refused = True
            raise StaleBatch("another runner got there first")
        self.store.apply_many(batches)


def test_rebuild_in_small_batches_yields_the_live_read_models(service: Service) -> None:
    write_history(service, random.Random(21), commands=40)
    service.runner.catch_up()
    live = snapshot(service.read_models, service.runner.projections)
    reports: list[tuple[int, int]] = []

    reached = rebuild(
        service.crm,
        service.read_models,
        service.runner.projections,
        replay_batch=3,
        progress=lambda done, total: reports.append((done, total)),
    )

    head = service.runner.head()
    assert snapshot(service.read_models, service.runner.projections) == live
    assert reached == head
    done = [d for d, _ in reports]
    assert done == sorted(done) and len(done) > head // 3 and reports[-1] == (head, head)


def test_a_refused_replay_batch_leaves_the_rest_to_the_runner(service: Service) -> None:
    write_history(service, random.Random(22), commands=30)
    service.runner.catch_up()
    live = snapshot(service.read_models, service.runner.projections)
    refusing = RefusesOneBatch(service.read_models, nth=3)

    reached = rebuild(
        service.crm, refusing, service.runner.projections, batch_size=4, replay_batch=5
    )

    assert refusing.refused
    assert snapshot(service.read_models, service.runner.projections) == live
    assert reached == service.runner.head()
