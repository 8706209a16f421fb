"""The read-model store on each engine: only what SQLite and PostgreSQL do differently
(their DDL hook in the library, how a statement is put in their dialect, how a swap takes
its locks, and how index names are given back after a rename); every behaviour is
:class:`projections.store.ReadModels`'.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier, Literal

from projections.store import ReadModels, Swap, positions, quoted
from sqlstore.sql import Dialect, to_pyformat

_SELECT_NAMED = (
    "SELECT application_name, notification_id FROM {tracking}"
    " WHERE application_name IN (SELECT value FROM json_each(:names))"
)


class SQLiteReadModels(ReadModels, SQLiteTrackingRecorder):
    """Read models in a SQLite file."""

    dialect: Dialect = "sqlite"

    def __init__(self, datastore: SQLiteDatastore, schema: Sequence[str]) -> None:
        self._schema = list(schema)
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._schema]

    def _in_dialect(self, sql: str) -> str:
        return sql  # sqlite3 takes ``:name`` parameters as they are

    def _tracking_sql(self, template: str) -> str:
        return template.format(tracking="tracking")

    def _lock_for_swap(self, cur: Any, tracking_names: Sequence[str]) -> dict[str, int]:
        """The database's one write lock is held since ``BEGIN IMMEDIATE``
        (:func:`projections.store.writing`): no one moves a position until the swap commits."""
        names = orjson.dumps(list(tracking_names)).decode()
        cur.execute(self._tracking_sql(_SELECT_NAMED), {"names": names})
        return positions(cur.fetchall())

    def _restore_index_names(self, cur: Any, swap: Swap) -> None:
        """SQLite cannot rename an index: drop the suffixed ones, create the live ones."""
        for index in swap.indexes:
            cur.execute(f"DROP INDEX IF EXISTS {quoted(index + swap.suffix)}")
        for statement in swap.index_statements():
            cur.execute(statement)


class PostgresReadModels(ReadModels, PostgresTrackingRecorder):
    """Read models in PostgreSQL, beside (never inside) the event store's tables."""

    dialect: Dialect = "postgres"
    swap_lock_timeout = "5s"

    def __init__(self, datastore: PostgresDatastore, schema: Sequence[str]) -> None:
        super().__init__(datastore, tracking_table_name="projection_tracking")
        self.sql_create_statements.extend(SQL(s).format() for s in schema)
        self._table = Identifier(datastore.schema, self.tracking_table_name)
        self._tracking_statements: dict[str, str] = {}

    def _in_dialect(self, sql: str) -> str:
        return to_pyformat(sql)

    def _tracking_sql(self, template: str) -> str:
        """Composed once per template: every write's claim runs one of these, and psycopg
        would otherwise compose the identifiers again on each execute."""
        statement = self._tracking_statements.get(template)
        if statement is None:
            composed = SQL(to_pyformat(template)).format(tracking=self._table)
            statement = self._tracking_statements[template] = composed.as_string(None)
        return statement

    def _lock_for_swap(self, cur: Any, tracking_names: Sequence[str]) -> dict[str, int]:
        """A bounded wait for the tables, and the tracking rows locked before them in the
        order the runner takes them, so a live runner mid-batch cannot deadlock the swap."""
        cur.execute(SQL("SET LOCAL lock_timeout = {0}").format(Literal(self.swap_lock_timeout)))
        cur.execute(
            self._tracking_sql(
                "SELECT application_name, notification_id FROM {tracking}"
                " WHERE application_name = ANY(:names)"
                ' ORDER BY application_name COLLATE "C" FOR UPDATE'
            ),
            {"names": list(tracking_names)},
        )
        return positions(cur.fetchall())

    def _reading(self) -> AbstractContextManager[Any]:
        """The pool's connections are in autocommit: a lone SELECT is its own transaction,
        one round trip instead of three (BEGIN, SELECT, ROLLBACK)."""
        reading: AbstractContextManager[Any] = self.datastore.cursor()
        return reading

    def _restore_index_names(self, cur: Any, swap: Swap) -> None:
        """Index (and constraint) names keep the suffix through the rename: take it off."""
        for table in swap.tables:
            cur.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (self.datastore.schema, table),
            )
            for row in cur.fetchall():
                name = row["indexname"]
                if swap.suffix in name:
                    cur.execute(
                        f"ALTER INDEX {quoted(name)} RENAME TO"
                        f" {quoted(name.replace(swap.suffix, ''))}"
                    )
