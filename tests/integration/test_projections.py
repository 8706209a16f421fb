"""Projections: exactly once under races, rebuilds that swap in without downtime, lag.

Run against SQLite and PostgreSQL alike (the ``service`` fixture is parametrised).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from domain.errors import SubjectErased
from projections.rebuild import RebuildingProjection, rebuild, select
from projections.store import StaleBatch
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from service.stores import read_model_store
from tests.snapshots import snapshot, write_history


def indexes(service: Service) -> set[tuple[str, str]]:
    """(table, index) pairs of the read-model database, as the engine names them."""
    if service.settings.database_url.startswith("sqlite"):
        sql = "SELECT tbl_name AS t, name AS i FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT tablename AS t, indexname AS i FROM pg_indexes WHERE schemaname = 'public'"
    return {(r["t"], r["i"]) for r in service.read_models.query(sql)}


def test_rebuild_yields_exactly_the_read_models_the_live_projection_produced(
    service: Service,
) -> None:
    write_history(service, random.Random(6), commands=40)
    service.runner.catch_up()
    live = snapshot(service.read_models, service.runner.projections)
    live_indexes = indexes(service)
    reports: list[tuple[int, int]] = []

    reached = rebuild(
        service.crm,
        service.read_models,
        service.runner.projections,
        batch_size=7,
        progress=lambda done, total: reports.append((done, total)),
    )

    assert snapshot(service.read_models, service.runner.projections) == live
    assert all(rows for rows in live.values())  # every read model had something to compare
    head = service.runner.head()
    assert reached == head
    assert set(service.runner.positions().values()) == {head}
    assert reports[0] == (0, head) and reports[-1] == (head, head)
    assert not {n for n in service.read_models.tracked() if n.endswith("__rebuild")}
    assert indexes(service) == live_indexes  # same names: the next rebuild can run again
    assert ("contacts_view", "contacts_view_email") in live_indexes


def test_rebuild_discards_what_an_interrupted_rebuild_left(service: Service) -> None:
    write_history(service, random.Random(7), commands=10)
    service.runner.catch_up()
    live = snapshot(service.read_models, service.runner.projections)
    contacts = select(service.runner.projections, "contacts")
    leftover = RebuildingProjection(contacts[0])
    service.read_models.create_tables(leftover.schema)
    service.read_models.apply(
        Tracking(leftover.name, 3),
        [
            (
                "INSERT INTO contacts_view__rebuild (id, tenant_id, version, created_at,"
                " updated_at) VALUES ('junk', 'junk', 1, 'x', 'x')",
                {},
            )
        ],
        previous=0,
    )

    rebuild(service.crm, service.read_models, contacts)

    assert snapshot(service.read_models, service.runner.projections) == live


def test_rebuilding_one_projection_leaves_the_others_untouched(service: Service) -> None:
    write_history(service, random.Random(8), commands=10)
    service.runner.catch_up()
    before = service.runner.positions()
    service.read_models.apply(
        Tracking("audit_timeline", before["audit_timeline"] + 1000), [], before["audit_timeline"]
    )

    rebuild(service.crm, service.read_models, select(service.runner.projections, "contacts"))

    after = service.runner.positions()
    assert after["audit_timeline"] == before["audit_timeline"] + 1000
    assert after["contacts"] == service.runner.head()


def test_unknown_projection_name_is_refused_with_the_known_names(service: Service) -> None:
    with pytest.raises(ValueError, match="contacts"):
        select(service.runner.projections, "nope")


def rebuilds_while(service: Service, times: int, *steps: Callable[[], None]) -> list[BaseException]:
    """Rebuild every projection ``times`` times while each of ``steps`` runs over and over
    in a thread of its own; what the steps raised (each thread stops at its first). Every
    step completes at least once before the first rebuild, between any two and after the
    last, so the race is run whatever the scheduler does (a rebuild on an idle SQLite file
    can otherwise finish all its runs before a writer gets the lock once)."""
    errors: list[BaseException] = []
    done = threading.Event()
    completed = [0] * len(steps)
    progress = threading.Condition()

    def repeat(index: int, step: Callable[[], None]) -> None:
        while not done.is_set():
            try:
                step()
            except BaseException as exc:
                errors.append(exc)
                with progress:
                    progress.notify_all()
                return
            with progress:
                completed[index] += 1
                progress.notify_all()

    def each_step_completes_once_more() -> None:
        with progress:
            before = list(completed)
            moved = progress.wait_for(
                lambda: bool(errors) or all(n > b for n, b in zip(completed, before, strict=True)),
                30,
            )
        assert moved, "a step made no progress in 30 s"

    threads = [threading.Thread(target=repeat, args=(i, s)) for i, s in enumerate(steps)]
    for thread in threads:
        thread.start()
    try:
        each_step_completes_once_more()
        for _ in range(times):
            rebuild(service.crm, service.read_models, service.runner.projections, batch_size=5)
            each_step_completes_once_more()
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return errors


def test_readers_see_complete_read_models_throughout_a_rebuild(service: Service) -> None:
    contacts = write_history(service, random.Random(9), commands=30)
    service.runner.catch_up()
    expected = service.read_models.query("SELECT COUNT(*) AS n FROM contacts_view")[0]["n"]
    assert expected == len(contacts)
    seen: list[int] = []

    def read() -> None:
        rows = service.read_models.query("SELECT COUNT(*) AS n FROM contacts_view")
        seen.append(rows[0]["n"])

    errors = rebuilds_while(service, 3, read)

    assert errors == []
    assert len(seen) > 3
    assert set(seen) == {expected}


def test_read_models_never_go_back_in_time_while_commands_race_rebuilds(
    service: Service,
) -> None:
    """Commands land in the live read models until each swap (in their own transaction on
    PostgreSQL, by catching up on SQLite): each answer reads its own write, a reader polling
    a contact's row and the projection's position sees both only move forward, and the
    result is a rebuild's."""
    write_history(service, random.Random(11), commands=10)
    tenant, _ = service.tenants.create("Warung Makan").value
    contact, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Sari"})
    service.runner.catch_up()
    seen: list[tuple[int, int]] = []
    query = "SELECT version FROM contacts_view WHERE id = :id"
    updates = itertools.count(1)

    def write() -> None:
        changes = {"job_title": f"Juru masak {next(updates)}"}
        update = service.contacts.update(tenant.id, contact.id, "agent", changes, None)
        service.answer(update)  # read your writes, across the swaps too
        row = service.read_models.query(query, {"id": str(contact.id)})[0]
        assert row["version"] >= update.value.version, (row, update.value.version)

    def read() -> None:
        position = service.runner.positions()["contacts"]
        version = service.read_models.query(query, {"id": str(contact.id)})[0]["version"]
        seen.append((position, version))

    errors = rebuilds_while(service, 4, write, read)

    assert errors == []
    assert len(seen) > 4
    positions, versions = [p for p, _ in seen], [v for _, v in seen]
    assert positions == sorted(positions) and versions == sorted(versions)
    assert versions[-1] > versions[0]  # the writer landed between the rebuilds
    service.runner.catch_up()
    live = snapshot(service.read_models, service.runner.projections)
    rebuild(service.crm, service.read_models, service.runner.projections)
    assert snapshot(service.read_models, service.runner.projections) == live


def test_a_stale_batch_is_refused_and_writes_nothing(service: Service) -> None:
    write_history(service, random.Random(10), commands=3)
    service.runner.catch_up()
    position = service.runner.positions()["audit_timeline"]
    rows_before = service.read_models.query("SELECT COUNT(*) AS n FROM audit_timeline")

    with pytest.raises(StaleBatch):
        # A runner that read the position before another one moved it past 1.
        service.read_models.apply(
            Tracking("audit_timeline", position + 10),
            [("DELETE FROM audit_timeline", {})],
            previous=1,
        )

    assert service.read_models.query("SELECT COUNT(*) AS n FROM audit_timeline") == rows_before
    assert service.runner.positions()["audit_timeline"] == position


def test_lag_counts_events_and_seconds_behind_the_log(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    # Projections left to a worker: a command's read models are not written with it.
    with bootstrap(make_settings(backend, CRM_PROJECTIONS_INLINE="false")) as service:
        write_history(service, random.Random(11), commands=5)
        service.runner.catch_up()
        assert {lag.events for lag in service.runner.lag().values()} == {0}
        service.tenants.create("Later")  # two events: the tenant and its admin

        lag = service.runner.lag()

    assert {behind.events for behind in lag.values()} == {2}
    assert all(0 <= behind.seconds < 60 for behind in lag.values())
    assert all(behind.seconds > 0 for behind in lag.values())


def test_a_command_commits_its_read_models_in_its_own_transaction(service: Service) -> None:
    """Read models in the event store's database: the command's transaction writes them
    and moves every projection past its events; nothing is left for a catch-up."""
    # The log's first events are the runner's: it claims the tracking rows.
    tenant = service.answer(service.tenants.create("Now"))[0]

    registered = service.contacts.register(tenant.id, "agent", {"full_name": "Sari"})

    assert set(service.runner.positions().values()) == {registered.position}
    row = service.read_models.query(
        "SELECT version FROM contacts_view WHERE id = :id", {"id": str(registered.value.id)}
    )
    assert row == [{"version": 1}]


def test_an_answer_after_a_command_that_applied_its_read_models_asks_nothing(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the commit says it applied every projection, so read-your-writes needs
    no look at the tracking rows; a position beyond that commit is still asked about."""
    with bootstrap(make_settings("postgres")) as service:
        tenant = service.answer(service.tenants.create("Now"))[0]
        registered = service.contacts.register(tenant.id, "agent", {"full_name": "Sari"})
        asked: list[int] = []
        original = service.runner.positions

        def positions() -> dict[str, int]:
            asked.append(1)
            return original()

        monkeypatch.setattr(service.runner, "positions", positions)
        assert service.answer(registered).id == registered.value.id
        assert asked == []
        assert service.read_your_writes(registered.position + 1)
        assert asked


def test_read_models_do_not_depend_on_the_order_of_aggregates(
    service: Service, tmp_path: Path
) -> None:
    """Kafka keeps order per aggregate only: the contact's erasure may arrive before an
    activity, consent, link or share of that contact. The read models must come out the same."""
    first = write_history(service, random.Random(10), commands=20)[0]
    tenant_id = UUID(service.crm.repository.get(first).tenant_id)
    with contextlib.suppress(SubjectErased):  # the history may have erased it already
        service.erasures.erase(tenant_id, first, "officer", "asked", None)
    service.runner.catch_up()
    in_order = snapshot(service.read_models, service.runner.projections)

    notifications = service.crm.recorder.select_notifications(start=1, limit=100_000)
    events = [(n.id, service.crm.mapper.to_domain_event(n)) for n in notifications]

    def of_contacts(event: object) -> bool:
        return type(event).__qualname__.startswith("Contact.")

    # Every contact's whole stream (erasures included) first, then every other aggregate:
    # each aggregate keeps its own order, as one Kafka partition would.
    shuffled = [e for e in events if of_contacts(e[1])] + [
        e for e in events if not of_contacts(e[1])
    ]
    store = read_model_store(
        f"sqlite:///{tmp_path}/shuffled.db",
        [s for p in service.runner.projections for s in p.schema],
    )
    for projection in service.runner.projections:
        for step, (position, event) in enumerate(shuffled, start=1):
            writes = projection.writes_for(event, position)
            store.apply(Tracking(projection.name, step), writes, None if step == 1 else step - 1)
    assert snapshot(store, service.runner.projections) == in_order
