"""Where read models live: the library's tracking recorders, extended with our tables.

A batch of read-model writes and the tracking position it reaches commit in one
transaction (exactly-once, invariant 6). The batch names the position it starts after, and
the tracking row is compared and set first thing in the transaction: a second process
that applied the same (or an overlapping) batch first makes it fail, and the whole batch
rolls back. The library's own check (the new position must be higher) is not enough for
batches: a stale batch reaching further than the winner's would pass it.

Rebuilds build fresh tables beside the live ones and swap them in with one transaction
(:meth:`swap_in`): readers see the old tables until the commit and the new ones after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

import orjson
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier, Literal

from sqlstore.sql import to_pyformat

Write = tuple[str, Mapping[str, Any]]
Batch = tuple[Tracking, Sequence[Write], int]  # (position reached, writes, position before)
MIGRATION_ROW = "__migration__"  # the library's own bookkeeping row in the tracking table
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)


@dataclass(frozen=True)
class Swap:
    """Rebuilt tables (``<table><suffix>``) and their tracking row, to replace the live ones."""

    live_name: str
    rebuilt_name: str
    tables: Sequence[str]
    indexes: Sequence[str]
    live_schema: Sequence[str]
    suffix: str

    def index_statements(self) -> list[str]:
        return [s for s in self.live_schema if _CREATE_INDEX.match(s)]


class StaleBatch(IntegrityError):
    """The tracking position moved since the batch was read: another runner applied it."""


def sealed_json(sealed: Mapping[str, str]) -> str | None:
    """An event's sealed tokens as one read-model column (``NULL`` when it carried none)."""
    return orjson.dumps(dict(sealed)).decode() if sealed else None


def sealed_cells(column: str | None) -> dict[str, str]:
    """The tokens of a column written by :func:`sealed_json` (none once erasure blanked it)."""
    return dict(orjson.loads(column)) if column else {}


def positions(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Tracking rows as {projection name: position}, without the library's own row."""
    return {
        r["application_name"]: int(r["notification_id"])
        for r in rows
        if r["application_name"] != MIGRATION_ROW
    }


def create_tables(datastore: Any, statements: Sequence[str]) -> None:
    """Run DDL in one transaction, on either engine's datastore."""
    with datastore.transaction(commit=True) as cur:
        for statement in statements:
            cur.execute(statement)


class ReadModelStore(Protocol):
    """Tables of read models plus the tracking table, in one database."""

    def apply(
        self, tracking: Tracking, writes: Sequence[Write], previous: int | None = None
    ) -> None: ...

    def apply_many(self, batches: Sequence[Batch]) -> None: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def tracked(self) -> dict[str, int]: ...

    def create_table(self) -> None: ...

    def create_tables(self, statements: Sequence[str]) -> None: ...

    def discard(self, tables: Sequence[str], tracking_name: str) -> None: ...

    def swap_in(self, swaps: Sequence[Swap]) -> None: ...


def execute_writes(cur: Any, writes: Sequence[Write], dialect_sql: Callable[[str], str]) -> None:
    """Run the writes in order; a run of the same statement goes as one ``executemany``
    (one round trip in psycopg's pipeline mode) rather than one round trip per row."""
    for sql, group in groupby(writes, key=itemgetter(0)):
        rows = [dict(params) for _, params in group]
        if len(rows) == 1:
            cur.execute(dialect_sql(sql), rows[0])
        else:
            cur.executemany(dialect_sql(sql), rows)


@lru_cache(maxsize=4096)
def _pyformat(sql: str) -> str:
    return to_pyformat(sql)


def _stale(tracking: Tracking, previous: int) -> StaleBatch:
    return StaleBatch(
        f"tracking for {tracking.application_name} is no longer at {previous}"
        f" (batch up to {tracking.notification_id})"
    )


class SQLiteReadModels(SQLiteTrackingRecorder):
    """Read models in a SQLite file."""

    def __init__(self, datastore: SQLiteDatastore, schema: Sequence[str]) -> None:
        self._schema = list(schema)
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._schema]

    def apply(
        self, tracking: Tracking, writes: Sequence[Write], previous: int | None = None
    ) -> None:
        with self.datastore.transaction(commit=True) as cur:
            if previous is None:
                self._insert_tracking(cur, tracking)
            else:
                self._compare_and_set(cur, tracking, previous)
            execute_writes(cur, writes, str)

    def apply_many(self, batches: Sequence[Batch]) -> None:
        """Several projections' batches in one transaction: all commit, or none does."""
        with self.datastore.transaction(commit=True) as cur:
            for tracking, writes, previous in batches:
                self._compare_and_set(cur, tracking, previous)
                execute_writes(cur, writes, str)

    def _compare_and_set(self, cur: Any, tracking: Tracking, previous: int) -> None:
        params = {
            "name": tracking.application_name,
            "new": tracking.notification_id,
            "previous": previous,
        }
        if previous == 0:
            # A second runner inserting the same first row fails on the primary key.
            cur.execute("INSERT INTO tracking VALUES (:name, :new)", params)
            return
        cur.execute(
            "UPDATE tracking SET notification_id = :new"
            " WHERE application_name = :name AND notification_id = :previous"
            " RETURNING notification_id",
            params,
        )
        if cur.fetchone() is None:
            raise _stale(tracking, previous)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(sql, dict(params or {}))
            return [dict(row) for row in cur.fetchall()]

    def tracked(self) -> dict[str, int]:
        return positions(self.query("SELECT application_name, notification_id FROM tracking"))

    def create_tables(self, statements: Sequence[str]) -> None:
        create_tables(self.datastore, statements)

    def discard(self, tables: Sequence[str], tracking_name: str) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for table in tables:
                cur.execute(f'DROP TABLE IF EXISTS "{table}"')
            cur.execute("DELETE FROM tracking WHERE application_name = ?", (tracking_name,))

    def swap_in(self, swaps: Sequence[Swap]) -> None:
        """One write transaction; WAL readers keep their snapshot of the old tables until it
        commits. SQLite cannot rename an index, so the live index names are recreated."""
        with self.datastore.transaction(commit=True) as cur:
            for swap in swaps:
                for table in swap.tables:
                    cur.execute(f'DROP TABLE IF EXISTS "{table}"')
                    cur.execute(f'ALTER TABLE "{table}{swap.suffix}" RENAME TO "{table}"')
                for index in swap.indexes:
                    cur.execute(f'DROP INDEX IF EXISTS "{index}{swap.suffix}"')
                for statement in swap.index_statements():
                    cur.execute(statement)
                cur.execute("DELETE FROM tracking WHERE application_name = ?", (swap.live_name,))
                cur.execute(
                    "UPDATE tracking SET application_name = ? WHERE application_name = ?",
                    (swap.live_name, swap.rebuilt_name),
                )


class PostgresReadModels(PostgresTrackingRecorder):
    """Read models in PostgreSQL, beside (never inside) the event store's tables."""

    swap_lock_timeout = "5s"

    def __init__(self, datastore: PostgresDatastore, schema: Sequence[str]) -> None:
        super().__init__(datastore, tracking_table_name="projection_tracking")
        self.sql_create_statements.extend(SQL(s).format() for s in schema)
        self._table = SQL("{0}.{1}").format(
            Identifier(datastore.schema), Identifier(self.tracking_table_name)
        )

    def apply(
        self, tracking: Tracking, writes: Sequence[Write], previous: int | None = None
    ) -> None:
        with self.datastore.transaction(commit=True) as cur:
            if previous is None:
                self._insert_tracking(cur, tracking)
            else:
                self._compare_and_set(cur, tracking, previous)
            execute_writes(cur, writes, _pyformat)

    def apply_many(self, batches: Sequence[Batch]) -> None:
        """Several projections' batches in one transaction (one commit, one flush). Callers
        pass them ordered by tracking name: row locks are then taken in the order
        :meth:`swap_in` takes them, so the two cannot deadlock."""
        with self.datastore.transaction(commit=True) as cur:
            for tracking, writes, previous in batches:
                self._compare_and_set(cur, tracking, previous)
                execute_writes(cur, writes, _pyformat)

    def _compare_and_set(self, cur: Any, tracking: Tracking, previous: int) -> None:
        params = {
            "name": tracking.application_name,
            "new": tracking.notification_id,
            "previous": previous,
        }
        if previous == 0:
            cur.execute(
                SQL("INSERT INTO {0} VALUES (%(name)s, %(new)s)").format(self._table), params
            )
            return
        # Takes the row lock first: a racing runner waits here, then finds the row moved.
        cur.execute(
            SQL(
                "UPDATE {0} SET notification_id = %(new)s WHERE application_name = %(name)s"
                " AND notification_id = %(previous)s RETURNING notification_id"
            ).format(self._table),
            params,
        )
        if cur.fetchone() is None:
            raise _stale(tracking, previous)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(to_pyformat(sql), dict(params or {}))
            return [dict(row) for row in cur.fetchall()]

    def tracked(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(
                SQL("SELECT application_name, notification_id FROM {0}").format(self._table)
            )
            rows = cur.fetchall()
        return positions(rows)

    def create_tables(self, statements: Sequence[str]) -> None:
        create_tables(self.datastore, statements)

    def discard(self, tables: Sequence[str], tracking_name: str) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for table in tables:
                cur.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table)))
            cur.execute(
                SQL("DELETE FROM {0} WHERE application_name = %s").format(self._table),
                (tracking_name,),
            )

    def swap_in(self, swaps: Sequence[Swap]) -> None:
        """One transaction: readers of a swapped table wait for its commit (milliseconds),
        then read the new table. Tracking rows are locked before tables, in the order the
        runner takes them, so a live runner mid-batch cannot deadlock with the swap."""
        names = [n for s in swaps for n in (s.live_name, s.rebuilt_name)]
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(SQL("SET LOCAL lock_timeout = {0}").format(Literal(self.swap_lock_timeout)))
            cur.execute(
                SQL(
                    "SELECT application_name FROM {0} WHERE application_name = ANY(%s)"
                    ' ORDER BY application_name COLLATE "C" FOR UPDATE'
                ).format(self._table),
                (names,),
            )
            for swap in swaps:
                for table in swap.tables:
                    self._swap_table(cur, table, swap.suffix)
                cur.execute(
                    SQL("DELETE FROM {0} WHERE application_name = %s").format(self._table),
                    (swap.live_name,),
                )
                cur.execute(
                    SQL("UPDATE {0} SET application_name = %s WHERE application_name = %s").format(
                        self._table
                    ),
                    (swap.live_name, swap.rebuilt_name),
                )

    def _swap_table(self, cur: Any, table: str, suffix: str) -> None:
        cur.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(table)))
        cur.execute(
            SQL("ALTER TABLE {0} RENAME TO {1}").format(
                Identifier(table + suffix), Identifier(table)
            )
        )
        # Index (and constraint) names keep the suffix through the rename: take it off, so
        # the next rebuild can create them again.
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (self.datastore.schema, table),
        )
        for row in cur.fetchall():
            name = row["indexname"]
            if suffix in name:
                cur.execute(
                    SQL("ALTER INDEX {0} RENAME TO {1}").format(
                        Identifier(name), Identifier(name.replace(suffix, ""))
                    )
                )
