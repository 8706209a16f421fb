"""One contract for the read-model stores, run on SQLite and on PostgreSQL.

The library's tracking cases (``test_library_recorders.py``) cover ``insert_tracking``; what
the project adds on top is covered here, engine-blind: ``apply`` with ``previous`` (a
compare-and-set of the tracking row, so a batch that does not start where the last one
ended is a :class:`StaleBatch` and writes nothing), ``apply_many`` (every batch commits or
none does), the claim of the rows from another transaction (``queue_advance_on`` and
``advanced_on``, as the event store's write makes it), runs of one statement
(``executemany``) kept in order with the rest, ``query`` with ``:name`` parameters,
``discard`` and ``swap_in`` of rebuilt tables. Only how an engine lists its indexes, and
PostgreSQL's lock timeout on a swap, are engine-specific.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from projections.engines import PostgresReadModels, SQLiteReadModels
from projections.store import ReadModelStore, StaleBatch, Swap, Write
from tests.contract.backends import new_postgres_url, postgres_datastore
from tests.harness import PostgresServer

SUFFIX = "__rebuild"
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS things_view (id TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS things_view_n ON things_view (n)",
]
REBUILT_SCHEMA = [  # as projections.rebuild names them: every table and index name suffixed
    "CREATE TABLE IF NOT EXISTS things_view__rebuild (id TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS things_view_n__rebuild ON things_view__rebuild (n)",
]
INSERT = "INSERT INTO things_view (id, n) VALUES (:id, :n)"


def insert(id_: str, n: int, table: str = "things_view") -> Write:
    return (INSERT.replace("things_view", table), {"id": id_, "n": n})


def things(store: ReadModelStore) -> dict[str, int]:
    return {r["id"]: r["n"] for r in store.query("SELECT id, n FROM things_view")}


def swap() -> Swap:
    return Swap("things", "things" + SUFFIX, ["things_view"], ["things_view_n"], SCHEMA, SUFFIX)


class ReadModelStoreContract:
    """The cases every read-model store passes; subclasses provide a ``datastore``, the
    store class, and how their engine lists the indexes of ``things_view``."""

    store_class: type[SQLiteReadModels] | type[PostgresReadModels]
    indexes_sql: str  # a "name" column

    @pytest.fixture
    def store(self, datastore: Any) -> Iterator[Any]:
        store = self.store_class(datastore, SCHEMA)
        store.create_table()
        yield store
        datastore.close()

    def index_names(self, store: ReadModelStore) -> set[str]:
        return {r["name"] for r in store.query(self.indexes_sql)}

    def test_the_first_batch_claims_the_position_with_its_writes(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 3), [insert("a", 1)], previous=0)

        assert store.tracked() == {"things": 3}
        assert things(store) == {"a": 1}

    def test_a_second_first_batch_is_refused_and_writes_nothing(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 3), [insert("a", 1)], previous=0)

        with pytest.raises(IntegrityError):
            store.apply(Tracking("things", 3), [insert("b", 2)], previous=0)

        assert store.tracked() == {"things": 3}
        assert things(store) == {"a": 1}

    def test_a_batch_after_the_position_moves_it_with_its_writes(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 3), [insert("a", 1)], previous=0)

        store.apply(Tracking("things", 5), [insert("b", 2)], previous=3)

        assert store.tracked() == {"things": 5}
        assert things(store) == {"a": 1, "b": 2}

    @pytest.mark.parametrize("reaching", [4, 5, 9])
    def test_a_batch_from_a_stale_position_is_refused_and_writes_nothing(
        self, store: ReadModelStore, reaching: int
    ) -> None:
        """Even one reaching further than the winner's: the library's rule (higher is
        enough) would let it through and apply events 4 and 5 twice."""
        store.apply(Tracking("things", 3), [insert("a", 1)], previous=0)
        store.apply(Tracking("things", 5), [insert("b", 2)], previous=3)

        with pytest.raises(StaleBatch):
            store.apply(Tracking("things", reaching), [insert("c", 3)], previous=3)

        assert store.tracked() == {"things": 5}
        assert things(store) == {"a": 1, "b": 2}

    @pytest.mark.parametrize("reaching", [5, 2])
    def test_a_batch_that_does_not_move_the_position_forward_is_refused(
        self, store: ReadModelStore, reaching: int
    ) -> None:
        """A batch that stays where it started, or goes back, would let the events after
        its position be applied again."""
        store.apply(Tracking("things", 5), [insert("a", 1)], previous=0)

        with pytest.raises(IntegrityError):
            store.apply(Tracking("things", reaching), [insert("b", 2)], previous=5)

        assert store.tracked() == {"things": 5}
        assert things(store) == {"a": 1}

    def test_apply_without_previous_keeps_the_library_rule(self, store: ReadModelStore) -> None:
        store.apply(Tracking("things", 5), [insert("a", 1)])

        with pytest.raises(IntegrityError):
            store.apply(Tracking("things", 4), [insert("b", 2)])

        assert store.max_tracking_id("things") == 5
        assert things(store) == {"a": 1}

    def test_apply_many_commits_every_batch(self, store: ReadModelStore) -> None:
        store.apply(Tracking("others", 2), [], previous=0)

        store.apply_many(
            [
                (Tracking("others", 4), [insert("a", 1)], 2),
                (Tracking("things", 4), [insert("b", 2)], 0),
            ]
        )

        assert store.tracked() == {"others": 4, "things": 4}
        assert things(store) == {"a": 1, "b": 2}

    def test_apply_many_with_one_stale_batch_commits_none(self, store: ReadModelStore) -> None:
        store.apply(Tracking("things", 4), [], previous=0)

        with pytest.raises(StaleBatch):
            store.apply_many(
                [
                    (Tracking("others", 4), [insert("a", 1)], 0),
                    (Tracking("things", 6), [insert("b", 2)], 2),
                ]
            )

        assert store.tracked() == {"things": 4}
        assert things(store) == {}

    def test_apply_many_with_one_failing_write_commits_none(self, store: ReadModelStore) -> None:
        with pytest.raises(IntegrityError):
            store.apply_many(
                [
                    (Tracking("others", 4), [insert("a", 1)], 0),
                    (Tracking("things", 4), [insert("b", 2), insert("b", 3)], 0),
                ]
            )

        assert store.tracked() == {}
        assert things(store) == {}

    def test_runs_of_one_statement_keep_their_order_among_the_others(
        self, store: ReadModelStore
    ) -> None:
        bump = ("UPDATE things_view SET n = n * 10 WHERE id = :id", {"id": "a"})
        writes = [insert("a", 1), insert("b", 2), bump, insert("c", 3), insert("d", 4), bump]

        store.apply(Tracking("things", 1), writes, previous=0)

        assert things(store) == {"a": 100, "b": 2, "c": 3, "d": 4}

    def test_query_takes_named_parameters_and_literal_percent_signs(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 1), [insert("a%", 1), insert("b", 2)], previous=0)

        rows = store.query("SELECT id FROM things_view WHERE id LIKE 'a%' AND n = :n", {"n": 1})

        assert rows == [{"id": "a%"}]

    def test_tracked_names_only_the_projections(self, store: ReadModelStore) -> None:
        store.apply(Tracking("things", 1), [], previous=0)

        assert store.tracked() == {"things": 1}  # not the library's "__migration__" row

    def test_a_claim_in_another_transaction_moves_the_rows_at_its_first_position_to_its_second(
        self, store: Any
    ) -> None:
        """The event store's write claims the rows with positions it has not read yet
        (subqueries its statement evaluates): only the rows at the first move."""
        for name, at in (("a", 3), ("b", 3), ("c", 2)):
            store.apply(Tracking(name, at), [], previous=0)

        with store.datastore.transaction(commit=True) as cur:
            store.queue_advance_on(cur, ["a", "b", "c"], "(SELECT 3)", "(SELECT 7)")
            claimed = store.advanced_on(cur, 7)

        assert claimed == {"a", "b"}
        assert store.tracked() == {"a": 7, "b": 7, "c": 2}

    def test_a_claim_that_lands_anywhere_but_the_batch_position_fails_its_transaction(
        self, store: Any
    ) -> None:
        store.apply(Tracking("a", 3), [], previous=0)

        with pytest.raises(StaleBatch), store.datastore.transaction(commit=True) as cur:
            store.queue_advance_on(cur, ["a"], "(SELECT 3)", "(SELECT 6)")
            store.advanced_on(cur, 7)

        assert store.tracked() == {"a": 3}

    def test_swap_in_replaces_the_live_tables_and_hands_over_the_position(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 5), [insert("old", 1)], previous=0)
        store.create_tables(REBUILT_SCHEMA)
        rebuilt = [insert("new", 2, "things_view" + SUFFIX)]
        store.apply(Tracking("things" + SUFFIX, 7), rebuilt, previous=0)

        store.swap_in([swap()])

        assert things(store) == {"new": 2}
        assert store.tracked() == {"things": 7}
        assert self.index_names(store) == {"things_view_n"}

    def test_a_swapped_in_store_can_be_rebuilt_and_swapped_again(
        self, store: ReadModelStore
    ) -> None:
        for generation in range(1, 3):
            store.create_tables(REBUILT_SCHEMA)
            rebuilt = [insert(f"gen{generation}", generation, "things_view" + SUFFIX)]
            store.apply(Tracking("things" + SUFFIX, generation), rebuilt, previous=0)
            store.swap_in([swap()])

        assert things(store) == {"gen2": 2}
        assert store.tracked() == {"things": 2}
        assert self.index_names(store) == {"things_view_n"}

    def test_swap_in_settles_the_rebuilt_tables_first_with_the_rows_locked(
        self, store: ReadModelStore
    ) -> None:
        """The settle sees every locked row's position, and what it writes on the swap's
        transaction (rows, the rebuilt position) is what the live name is handed."""
        store.apply(Tracking("things", 9), [insert("live", 9)], previous=0)
        store.create_tables(REBUILT_SCHEMA)
        rebuilt = [insert("new", 2, "things_view" + SUFFIX)]
        store.apply(Tracking("things" + SUFFIX, 7), rebuilt, previous=0)
        seen: list[dict[str, int]] = []

        def settle(cur: Any, locked: Mapping[str, int]) -> None:
            seen.append(dict(locked))
            late = [insert("late", 9, "things_view" + SUFFIX)]
            store.apply_on(cur, Tracking("things" + SUFFIX, 9), late, previous=7)

        store.swap_in([swap()], settle)

        assert seen == [{"things": 9, "things" + SUFFIX: 7}]
        assert things(store) == {"new": 2, "late": 9}
        assert store.tracked() == {"things": 9}

    def test_a_settle_that_fails_leaves_the_live_tables_and_positions_as_they_were(
        self, store: ReadModelStore
    ) -> None:
        store.apply(Tracking("things", 9), [insert("live", 9)], previous=0)
        store.create_tables(REBUILT_SCHEMA)
        store.apply(Tracking("things" + SUFFIX, 7), [], previous=0)

        def settle(cur: Any, locked: Mapping[str, int]) -> None:
            late = [insert("late", 9, "things_view" + SUFFIX)]
            store.apply_on(cur, Tracking("things" + SUFFIX, 9), late, previous=7)
            raise OSError("the event store went away")

        with pytest.raises(OSError):
            store.swap_in([swap()], settle)

        assert things(store) == {"live": 9}
        assert store.tracked() == {"things": 9, "things" + SUFFIX: 7}

    def test_discard_drops_the_tables_and_their_position(self, store: ReadModelStore) -> None:
        store.create_tables(REBUILT_SCHEMA)
        store.apply(Tracking("things" + SUFFIX, 3), [], previous=0)

        store.discard(["things_view" + SUFFIX], "things" + SUFFIX)

        assert store.tracked() == {}
        with pytest.raises(Exception, match="things_view__rebuild"):
            store.query("SELECT * FROM things_view__rebuild")


class TestSQLiteReadModels(ReadModelStoreContract):
    store_class = SQLiteReadModels
    indexes_sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'things%'"
        " AND name NOT LIKE 'sqlite_autoindex%'"
    )

    @pytest.fixture
    def datastore(self, tmp_path: Path) -> SQLiteDatastore:
        return SQLiteDatastore(str(tmp_path / "views.db"))


class TestPostgresReadModels(ReadModelStoreContract):
    store_class = PostgresReadModels
    indexes_sql = (
        "SELECT indexname AS name FROM pg_indexes WHERE tablename LIKE 'things%'"
        " AND indexname NOT LIKE '%_pkey%'"
    )

    @pytest.fixture
    def url(self, postgres_server: PostgresServer) -> str:
        return new_postgres_url(postgres_server, "views")

    @pytest.fixture
    def datastore(self, url: str) -> PostgresDatastore:
        return postgres_datastore(url)

    def test_a_swap_waits_for_a_reader_no_longer_than_its_lock_timeout(
        self, store: PostgresReadModels, url: str
    ) -> None:
        """A long reader holds the live table: the swap gives up (the rebuild retries it)
        instead of queueing every later reader behind its lock; once the reader is done,
        the swap goes through."""
        store.create_tables(REBUILT_SCHEMA)
        store.apply(Tracking("things" + SUFFIX, 1), [], previous=0)
        store.swap_lock_timeout = "100ms"
        with psycopg.connect(url) as reader:
            reader.execute("SELECT * FROM things_view")  # holds ACCESS SHARE until it ends

            with pytest.raises(OperationalError, match="lock timeout"):
                store.swap_in([swap()])

        store.swap_in([swap()])
        assert store.tracked() == {"things": 1}
