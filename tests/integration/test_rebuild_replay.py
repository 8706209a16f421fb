"""A rebuild's bulk replay: folded batches, each committed while the next is prepared, must
leave the read models the live projections produced, however the log is cut into batches,
and a batch the store refuses leaves the rest to the runner, applied exactly once; what the
live read models take while the rebuild finishes is settled in its swap, never lost or
undone.

Run against SQLite and PostgreSQL alike (the ``service`` fixture is parametrised).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.rebuild import rebuild
from projections.store import Batch, ReadModelStore, Settle, StaleBatch, Swap
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


class WritesBeforeTheSwap:
    """The service's store, but commands land in the live read models (applied in their
    own transaction, or by the live runner) after the rebuild's last catch-up, just before
    its swap: the window the swap must settle."""

    def __init__(self, service: Service, contact: UUID, tenant: UUID) -> None:
        self.service = service
        self.store = service.read_models
        self.contact = contact
        self.tenant = tenant
        self.live_before_swap: dict[str, int] = {}
        self.rows_before_swap: dict[str, list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def swap_in(self, swaps: Sequence[Swap], settle: Settle | None = None) -> None:
        for n in range(3):
            changes = {"job_title": f"Juru masak {n}"}
            self.service.contacts.update(self.tenant, self.contact, "agent", changes, None)
        self.service.runner.catch_up()
        self.live_before_swap = self.service.runner.positions()
        self.rows_before_swap = snapshot(self.store, self.service.runner.projections)
        self.store.swap_in(swaps, settle)


def test_the_swap_never_hands_the_live_read_models_an_earlier_position(
    service: Service,
) -> None:
    write_history(service, random.Random(23), commands=12)
    tenant, _ = service.tenants.create("Warung Makan").value
    contact, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Sari"})
    service.runner.catch_up()
    late = WritesBeforeTheSwap(service, contact.id, tenant.id)

    reached = rebuild(service.crm, late, service.runner.projections)

    after = service.runner.positions()  # no catch-up in between: what readers see now
    assert late.live_before_swap and all(
        after[name] >= position for name, position in late.live_before_swap.items()
    )
    assert reached == service.runner.head()
    assert snapshot(service.read_models, service.runner.projections) == late.rows_before_swap
