"""Where read models live: the library's tracking recorders, extended with our tables.

A batch of read-model writes and the tracking position it reaches commit in one
transaction (exactly-once, invariant 6). A second process that applied the same batch
first makes the tracking insert fail, and the whole batch rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from storage.sql import to_pyformat

Write = tuple[str, Mapping[str, Any]]


def sealed_json(sealed: Mapping[str, str]) -> str | None:
    """An event's sealed tokens as one read-model column (``NULL`` when it carried none)."""
    return orjson.dumps(dict(sealed)).decode() if sealed else None


def sealed_cells(column: str | None) -> dict[str, str]:
    """The tokens of a column written by :func:`sealed_json` (none once erasure blanked it)."""
    return dict(orjson.loads(column)) if column else {}


class ReadModelStore(Protocol):
    """Tables of read models plus the tracking table, in one database."""

    def apply(self, tracking: Tracking, writes: Sequence[Write]) -> None: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def create_table(self) -> None: ...


class SQLiteReadModels(SQLiteTrackingRecorder):
    """Read models in a SQLite file."""

    def __init__(self, datastore: SQLiteDatastore, schema: Sequence[str]) -> None:
        self._schema = list(schema)
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._schema]

    def apply(self, tracking: Tracking, writes: Sequence[Write]) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for sql, params in writes:
                cur.execute(sql, dict(params))
            self._insert_tracking(cur, tracking)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(sql, dict(params or {}))
            return [dict(row) for row in cur.fetchall()]


class PostgresReadModels(PostgresTrackingRecorder):
    """Read models in PostgreSQL, beside (never inside) the event store's tables."""

    def __init__(self, datastore: PostgresDatastore, schema: Sequence[str]) -> None:
        super().__init__(datastore, tracking_table_name="projection_tracking")
        self.sql_create_statements.extend(SQL(s).format() for s in schema)

    def apply(self, tracking: Tracking, writes: Sequence[Write]) -> None:
        with self.datastore.transaction(commit=True) as cur:
            for sql, params in writes:
                cur.execute(to_pyformat(sql), dict(params))
            self._insert_tracking(cur, tracking)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(to_pyformat(sql), dict(params or {}))
            return [dict(row) for row in cur.fetchall()]
