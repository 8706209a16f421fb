"""The ``eventsourcing`` library's own recorder cases, run on the project's recorders.

The ledger recorders and the read-model stores override private hooks of the library's
recorders (``_insert_events``, ``_fetch_ids_after_insert_events``, ``insert_events`` on
PostgreSQL, the tracking table's statements): a library upgrade that changes what those
hooks are called with, or when, would break them without a word. Here the library's
``ApplicationRecorderTestCase``, ``NonInterleavingNotificationIDsBaseCase`` and
``TrackingRecorderTestCase`` run against them on both engines, each case on an empty
database of its own (see :mod:`tests.contract.backends`).

What differs from the library's own suite, on purpose:

- Left out (set to ``None`` so they are not collected, rather than skipped):
  ``test_performance`` and ``test_concurrent_throughput``. They time inserts and print
  rates, asserting nothing a contract needs but the absence of errors, which the concurrent
  cases that do run (``test_concurrent_no_conflicts``, 10 writers of 100 writes, and the
  non-interleaving case, two racing writers of 1,000 events) already prove, ledger and all.
- Not run: the library's text-originator-id variants. The ledger binds every entry to a
  UUID originator id (``crypto.ledger.event_hash``), as the service's aggregates have.
- Not run on SQLite: the subscription case (the library's SQLite recorder has no
  subscriptions); on PostgreSQL it runs, as in the library's suite, because the ledger's
  ``insert_events`` must still send the NOTIFY that subscriptions wait for.
- Added: after every case the ledger recorders are checked to have exactly one entry per
  stored event and a head at that size, so a library case that writes (or fails to write)
  proves the ledger moved in the same transaction, including the refused duplicate insert.
- The read-model stores' compare-and-set (``apply`` with ``previous``, which refuses a
  batch that does not start where the last one ended) is not the library's
  ``insert_tracking`` and is not exercised here: ``test_read_model_stores.py`` has those
  cases. The library's tracking cases also run through ``apply`` without ``previous``,
  the path that keeps the library's rule (a higher position, or an ``IntegrityError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    TrackingRecorderTestCase,
)

from projections.engines import PostgresReadModels, SQLiteReadModels
from projections.store import ReadModels
from storage.recorders import LedgerRecorder, PostgresLedgerRecorder, SQLiteLedgerRecorder
from tests.contract.backends import new_ledger, new_postgres_url, postgres_datastore
from tests.harness import PostgresServer

LedgerRecorderClass = type[SQLiteLedgerRecorder] | type[PostgresLedgerRecorder]
ReadModelsClass = type[SQLiteReadModels] | type[PostgresReadModels]


class OnSQLite:
    """A SQLite file per case, as the service keeps its event store (WAL, file locks)."""

    datastore: SQLiteDatastore
    ledger_recorder_class: LedgerRecorderClass = SQLiteLedgerRecorder
    read_models_class: ReadModelsClass = SQLiteReadModels

    @pytest.fixture(autouse=True)
    def _sqlite_file(self, tmp_path: Path) -> Iterator[None]:
        self.datastore = SQLiteDatastore(str(tmp_path / "contract.db"), pool_size=10)
        yield
        self.datastore.close()


class OnPostgres:
    """A new database per case on the harness's server."""

    datastore: PostgresDatastore
    ledger_recorder_class: LedgerRecorderClass = PostgresLedgerRecorder
    read_models_class: ReadModelsClass = PostgresReadModels

    @pytest.fixture(autouse=True)
    def _postgres_database(self, postgres_server: PostgresServer) -> Iterator[None]:
        self.datastore = postgres_datastore(new_postgres_url(postgres_server, "contract"))
        yield
        self.datastore.close()


class LedgeredRecorderCases:
    """The engine's ledger recorder with a ledger attached, checked after every case."""

    datastore: Any
    ledger_recorder_class: LedgerRecorderClass
    recorders: tuple[LedgerRecorder, ...] = ()

    def create_recorder(self) -> Any:
        recorder = self.ledger_recorder_class(self.datastore)
        recorder.create_table()
        recorder.attach_ledger(new_ledger())
        self.recorders = (*self.recorders, recorder)
        return recorder

    def tearDown(self) -> None:
        for recorder in self.recorders:
            events = count(recorder, recorder.events_table)
            entries = count(recorder, "ledger_entries")
            head = recorder.query("SELECT size FROM ledger_head")
            assert entries == events, f"{entries} ledger entries for {events} events"
            assert [r["size"] for r in head] == ([events] if events else [])
            assert recorder.first_event_without_entry() is None
            assert_bulk_read_matches_notifications(recorder)
        super().tearDown()  # type: ignore[misc]


def assert_bulk_read_matches_notifications(recorder: LedgerRecorder) -> None:
    """The replay's bulk read gives what the library's ``select_notifications`` gives, from
    the start and from the middle, limits included."""
    assert isinstance(recorder, ApplicationRecorder)
    for start, limit in ((1, 10_000), (2, 3)):
        expected = [
            (n.id, StoredEvent(n.originator_id, n.originator_version, n.topic, n.state))
            for n in recorder.select_notifications(start=start, limit=limit)
        ]
        assert recorder.stored_events_from(start, limit) == expected


def count(recorder: LedgerRecorder, table: str) -> int:
    return int(recorder.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


class TestSQLiteLedgerRecorder(
    LedgeredRecorderCases, OnSQLite, ApplicationRecorderTestCase[SQLiteLedgerRecorder]
):
    test_performance = None  # type: ignore[assignment]
    test_concurrent_throughput = None  # type: ignore[assignment]


class TestPostgresLedgerRecorder(
    LedgeredRecorderCases, OnPostgres, ApplicationRecorderTestCase[PostgresLedgerRecorder]
):
    test_performance = None  # type: ignore[assignment]
    test_concurrent_throughput = None  # type: ignore[assignment]

    def test_insert_subscribe(self) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(2, 2)  # the subscription listens on a connection of its own
        self.optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(12, 12)  # ten writers and two readers, as the library does
        super().test_concurrent_no_conflicts(initial_position)


class TestSQLiteLedgerRecorderNonInterleaving(
    LedgeredRecorderCases, OnSQLite, NonInterleavingNotificationIDsBaseCase
):
    pass


class TestPostgresLedgerRecorderNonInterleaving(
    LedgeredRecorderCases, OnPostgres, NonInterleavingNotificationIDsBaseCase
):
    pass


class ReadModelsCases:
    """The engine's read-model store, with no read-model tables of its own."""

    datastore: Any
    read_models_class: ReadModelsClass

    def create_recorder(self) -> Any:
        store = self.read_models_class(self.datastore, [])
        store.create_table()
        return store


class TestSQLiteReadModelsTracking(ReadModelsCases, OnSQLite, TrackingRecorderTestCase):
    pass


class TestPostgresReadModelsTracking(ReadModelsCases, OnPostgres, TrackingRecorderTestCase):
    pass


def through_apply(store: ReadModels) -> ReadModels:
    """The store with ``insert_tracking`` sent through :meth:`ReadModels.apply` (no writes,
    no ``previous``): the library's tracking rules must hold on the store's own write path."""

    def insert_tracking(tracking: Tracking) -> None:
        store.apply(tracking, [])

    store.insert_tracking = insert_tracking  # type: ignore[attr-defined]
    return store


class ThroughApply(ReadModelsCases):
    def create_recorder(self) -> Any:
        return through_apply(super().create_recorder())


class TestSQLiteReadModelsTrackingThroughApply(ThroughApply, OnSQLite, TrackingRecorderTestCase):
    pass


class TestPostgresReadModelsTrackingThroughApply(
    ThroughApply, OnPostgres, TrackingRecorderTestCase
):
    pass
