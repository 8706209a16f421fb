"""Where read models live: the library's tracking recorders, extended with our tables.

A batch of read-model writes and the tracking position it reaches commit in one
transaction (exactly-once, invariant 6). The batch names the position it starts after, and
the tracking row is compared and set first thing in the transaction: a second process
that applied the same (or an overlapping) batch first makes it fail, and the whole batch
rolls back. The library's own check (the new position must be higher) is not enough for
batches: a stale batch reaching further than the winner's would pass it.

Rebuilds build fresh tables beside the live ones and swap them in with one transaction
(:meth:`ReadModels.swap_in`): readers see the old tables until the commit and the new ones
after it.

Each behaviour is written once, in :class:`ReadModels`, with statements in ``:name``
parameters and ``{tracking}`` for the tracking table; the engine classes
(:mod:`projections.engines`) keep only what differs.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTransaction

from sqlstore.sql import Dialect, as_multi_row

Write = tuple[str, Mapping[str, Any]]
Batch = tuple[Tracking, Sequence[Write], int]  # (position reached, writes, position before)
# What a swap runs on its own transaction, the tracking rows locked, before it renames:
# given every locked row's position, bring the rebuilt tables up to the live ones.
Settle = Callable[[Any, Mapping[str, int]], None]
MIGRATION_ROW = "__migration__"  # the library's own bookkeeping row in the tracking table
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)

# The tracking table's statements, once for both engines.
_CLAIM_FIRST = "INSERT INTO {tracking} VALUES (:name, :new)"
_ADVANCE = (
    "UPDATE {tracking} SET notification_id = :new"
    " WHERE application_name = :name AND notification_id = :previous"
    " RETURNING notification_id"
)
_SELECT_ALL = "SELECT application_name, notification_id FROM {tracking}"
# Every named row still at {previous} moves to {new}, in one statement; PostgreSQL locks
# the rows first in name order (the order the runner and a swap take them: no deadlock).
# The two positions are parameters, or SQL the statement evaluates (see queue_advance_on).
_ADVANCE_TOGETHER = {
    "sqlite": (
        "UPDATE {tracking} SET notification_id = {new} WHERE notification_id = {previous}"
        " AND application_name IN (SELECT value FROM json_each(:names))"
        " RETURNING application_name, notification_id"
    ),
    "postgres": (
        "UPDATE {tracking} SET notification_id = {new} WHERE application_name IN ("
        "SELECT application_name FROM {tracking} WHERE application_name = ANY(:names)"
        ' AND notification_id = {previous} ORDER BY application_name COLLATE "C" FOR UPDATE)'
        " RETURNING application_name, notification_id"
    ),
}
_FORGET = "DELETE FROM {tracking} WHERE application_name = :name"
_HAND_OVER = "UPDATE {tracking} SET application_name = :live WHERE application_name = :rebuilt"


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
    with writing(datastore) as cur:
        for statement in statements:
            cur.execute(statement)


class _ImmediateTransaction(SQLiteTransaction):
    """The library's SQLite transaction, but taking the write lock at ``BEGIN``."""

    def __enter__(self) -> Any:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


@contextmanager
def writing(datastore: Any) -> Iterator[Any]:
    """A write transaction on either engine's datastore, its errors the library's.

    On SQLite it takes the database's write lock up front (``BEGIN IMMEDIATE``): a deferred
    transaction that reads first (a swap's positions, the schema a ``DROP`` looks up)
    fails at once with "database is locked" when another connection committed meanwhile,
    busy timeout or not, as the event store's commands do on the same file."""
    if isinstance(datastore, SQLiteDatastore):
        with (
            datastore.get_connection(commit=True) as conn,
            _ImmediateTransaction(conn, commit=True) as cur,
            cur,
        ):
            yield cur
        return
    with datastore.transaction(commit=True) as cur:
        yield cur


class ReadModelStore(Protocol):
    """Tables of read models plus the tracking table, in one database."""

    dialect: Dialect

    def apply(
        self, tracking: Tracking, writes: Sequence[Write], previous: int | None = None
    ) -> None: ...

    def apply_many(self, batches: Sequence[Batch]) -> None: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def tracked(self) -> dict[str, int]: ...

    def advance_on(self, cur: Any, names: Sequence[str], previous: int, new: int) -> set[str]: ...

    def queue_advance_on(
        self,
        cur: Any,
        names: Sequence[str],
        previous: str,
        new: str,
        params: Mapping[str, Any] | None = None,
    ) -> None: ...

    def advanced_on(self, cur: Any, new: int) -> set[str]: ...

    def write_on(self, cur: Any, writes: Sequence[Write]) -> None: ...

    def create_table(self) -> None: ...

    def create_tables(self, statements: Sequence[str]) -> None: ...

    def discard(self, tables: Sequence[str], tracking_name: str) -> None: ...

    def swap_in(self, swaps: Sequence[Swap], settle: Settle | None = None) -> None: ...

    def apply_on(
        self, cur: Any, tracking: Tracking, writes: Sequence[Write], previous: int
    ) -> None: ...


def execute_writes(cur: Any, writes: Sequence[Write], dialect_sql: Callable[[str], str]) -> None:
    """Run the writes in order; a run of the same single-row insert goes as multi-row
    inserts (:func:`as_multi_row`), a run of any other statement as one ``executemany``
    (on the event store's write, queued in its string: :mod:`storage.one_string`)."""
    for sql, group in groupby(writes, key=itemgetter(0)):
        rows = [params for _, params in group]
        if len(rows) == 1:
            cur.execute(dialect_sql(sql), dict(rows[0]))
            continue
        statements = as_multi_row(sql, rows)
        if len(statements) == len(rows):
            cur.executemany(dialect_sql(sql), [dict(row) for row in rows])
            continue
        for statement, params in statements:
            cur.execute(dialect_sql(statement), params)


def quoted(name: str) -> str:
    """A table or index name as an SQL identifier, the same on both engines."""
    return '"' + name.replace('"', '""') + '"'


def _stale(tracking: Tracking, previous: int) -> StaleBatch:
    return StaleBatch(
        f"tracking for {tracking.application_name} is no longer at {previous}"
        f" (batch up to {tracking.notification_id})"
    )


class ReadModels(ABC):
    """The store's behaviour over either engine: mixed in before the library's tracking
    recorder, whose datastore, ``_insert_tracking`` and ``max_tracking_id`` it uses."""

    dialect: Dialect

    if TYPE_CHECKING:  # provided by the library's recorder the engine class also extends
        datastore: Any

        def _insert_tracking(self, cur: Any, tracking: Tracking) -> None: ...

    @abstractmethod
    def _in_dialect(self, sql: str) -> str:
        """A statement written with ``:name`` parameters, as the engine's driver takes it."""

    @abstractmethod
    def _tracking_sql(self, template: str) -> Any:
        """One of the tracking statements above, for this engine's tracking table."""

    @abstractmethod
    def _lock_for_swap(self, cur: Any, tracking_names: Sequence[str]) -> dict[str, int]:
        """Whatever a swap must hold before it drops a table, the tracking rows of
        ``tracking_names`` among it (no runner moves them until the swap commits); their
        positions."""

    @abstractmethod
    def _restore_index_names(self, cur: Any, swap: Swap) -> None:
        """Give the renamed tables' indexes their live names back, so the next rebuild can
        create the suffixed ones again."""

    def apply(
        self, tracking: Tracking, writes: Sequence[Write], previous: int | None = None
    ) -> None:
        with writing(self.datastore) as cur:
            if previous is None:
                self._insert_tracking(cur, tracking)
            else:
                self._compare_and_set(cur, tracking, previous)
            execute_writes(cur, writes, self._in_dialect)

    def apply_many(self, batches: Sequence[Batch]) -> None:
        """Several projections' batches in one transaction (one commit, one flush): all
        commit, or none does. Callers pass them ordered by tracking name: row locks are then
        taken in the order :meth:`swap_in` takes them, so the two cannot deadlock."""
        with writing(self.datastore) as cur:
            for tracking, writes, previous in batches:
                self._compare_and_set(cur, tracking, previous)
                execute_writes(cur, writes, self._in_dialect)

    def apply_on(
        self, cur: Any, tracking: Tracking, writes: Sequence[Write], previous: int
    ) -> None:
        """:meth:`apply` on a transaction already open on this store (a swap's)."""
        self._compare_and_set(cur, tracking, previous)
        execute_writes(cur, writes, self._in_dialect)

    def _compare_and_set(self, cur: Any, tracking: Tracking, previous: int) -> None:
        if tracking.notification_id <= previous:
            # The library's rule, kept: a batch that stays or goes back would let the events
            # after its position be applied again.
            raise IntegrityError(
                f"tracking for {tracking.application_name} must move forward from {previous}"
                f" (batch up to {tracking.notification_id})"
            )
        params = {
            "name": tracking.application_name,
            "new": tracking.notification_id,
            "previous": previous,
        }
        if previous == 0:
            # A second runner inserting the same first row fails on the primary key.
            cur.execute(self._tracking_sql(_CLAIM_FIRST), params)
            return
        # Takes the row lock first: a racing runner waits here, then finds the row moved.
        cur.execute(self._tracking_sql(_ADVANCE), params)
        if cur.fetchone() is None:
            raise _stale(tracking, previous)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._rows(self._in_dialect(sql), params)

    def _rows(self, statement: Any, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        with self._reading() as cur:
            cur.execute(statement, dict(params or {}))
            return [dict(row) for row in cur.fetchall()]

    def _reading(self) -> AbstractContextManager[Any]:
        """A cursor for one statement that only reads (one statement sees one snapshot)."""
        reading: AbstractContextManager[Any] = self.datastore.transaction(commit=False)
        return reading

    def tracked(self) -> dict[str, int]:
        return positions(self._rows(self._tracking_sql(_SELECT_ALL), None))

    def advance_on(self, cur: Any, names: Sequence[str], previous: int, new: int) -> set[str]:
        """On ``cur``, a transaction of the same database that is not the store's own (the
        event store's write): move every projection of ``names`` still at ``previous`` to
        ``new``; the names moved. One statement, whatever the number of projections."""
        self.queue_advance_on(cur, names, ":previous", ":new", {"previous": previous, "new": new})
        return self.advanced_on(cur, new)

    def queue_advance_on(
        self,
        cur: Any,
        names: Sequence[str],
        previous: str,
        new: str,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """:meth:`advance_on` with both positions given as SQL (a parameter, or a subquery
        the statement evaluates in the write's transaction), its result left to
        :meth:`advanced_on`: on the event store's PostgreSQL write the statement then travels
        with the insert, in its string (:mod:`storage.one_string`)."""
        names_param: Any = orjson.dumps(list(names)).decode() if self.dialect == "sqlite" else names
        template = _ADVANCE_TOGETHER[self.dialect].format(
            tracking="{tracking}", previous=previous, new=new
        )
        cur.execute(self._tracking_sql(template), {**(params or {}), "names": names_param})

    def advanced_on(self, cur: Any, new: int) -> set[str]:
        """The names :meth:`queue_advance_on` moved, each of which must now be at ``new``:
        a row moved anywhere else fails the write (exactly once rests on that position)."""
        moved = {row["application_name"]: int(row["notification_id"]) for row in cur.fetchall()}
        wrong = {name: at for name, at in moved.items() if at != new}
        if wrong:
            raise StaleBatch(f"tracking moved to {wrong}, not to the batch's position {new}")
        return set(moved)

    def write_on(self, cur: Any, writes: Sequence[Write]) -> None:
        """Run read-model writes on another transaction's cursor (see :meth:`advance_on`)."""
        execute_writes(cur, writes, self._in_dialect)

    def create_tables(self, statements: Sequence[str]) -> None:
        create_tables(self.datastore, statements)

    def discard(self, tables: Sequence[str], tracking_name: str) -> None:
        with writing(self.datastore) as cur:
            for table in tables:
                cur.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
            cur.execute(self._tracking_sql(_FORGET), {"name": tracking_name})

    def swap_in(self, swaps: Sequence[Swap], settle: Settle | None = None) -> None:
        """One transaction: until it commits, readers keep the old tables (a WAL snapshot on
        SQLite; on PostgreSQL they wait milliseconds for the commit), then read the new.

        ``settle`` runs first, with the tracking rows locked: what the live tables took
        since the rebuild's last catch-up (a command's own transaction, the live runner) is
        applied to the rebuilt ones there, so the live name never goes back to an earlier
        position and readers never see the read models go back in time."""
        names = [n for s in swaps for n in (s.live_name, s.rebuilt_name)]
        with writing(self.datastore) as cur:
            locked = self._lock_for_swap(cur, names)
            if settle is not None:
                settle(cur, locked)
            for swap in swaps:
                for table in swap.tables:
                    cur.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
                    cur.execute(
                        f"ALTER TABLE {quoted(table + swap.suffix)} RENAME TO {quoted(table)}"
                    )
                self._restore_index_names(cur, swap)
                cur.execute(self._tracking_sql(_FORGET), {"name": swap.live_name})
                cur.execute(
                    self._tracking_sql(_HAND_OVER),
                    {"live": swap.live_name, "rebuilt": swap.rebuilt_name},
                )
