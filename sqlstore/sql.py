"""One small SQL interface over SQLite and PostgreSQL.

Statements are written once with ``:name`` parameters and the SQL both engines share;
:class:`SqlCursor` rewrites the parameters for psycopg. Rows come back as plain dicts.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.rows import dict_row, tuple_row

Dialect = Literal["sqlite", "postgres"]
_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def in_list(prefix: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``IN (...)`` for ``values`` as ``:name`` parameters: the placeholders (``:s0, :s1``)
    and the parameters, the same on both engines."""
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(":" + name for name in params), params


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """Rewrite ``:name`` parameters as psycopg's ``%(name)s`` (``::casts`` are left alone).

    Cached: statements are a bounded set of templates, and the rewrite of a long one (the
    ledger head's upsert) cost more CPU than sending it."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


_SINGLE_ROW_INSERT = re.compile(
    r"(INSERT INTO \S+ \([^()]*\) VALUES )\(((?:\s*:[A-Za-z_]\w*\s*,)*\s*:[A-Za-z_]\w*\s*)\)"
)
# psycopg keeps a statement's parsed form only up to this many parameters (and 4096 bytes).
MAX_CACHED_PARAMS = 50


@lru_cache(maxsize=1024)
def _rows_template(sql: str, rows: int) -> tuple[str, tuple[str, ...]] | None:
    """``sql`` (one row's ``INSERT ... VALUES (:a, :b)``) for ``rows`` rows, and its
    parameter names; None for any other statement."""
    match = _SINGLE_ROW_INSERT.fullmatch(sql.strip())
    if match is None:
        return None
    names = tuple(name.strip()[1:] for name in match.group(2).split(","))
    values = ", ".join(
        "(" + ", ".join(f":{name}__{row}" for name in names) + ")" for row in range(rows)
    )
    return match.group(1) + values, names


def as_multi_row(sql: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A run of one single-row ``INSERT ... VALUES`` as multi-row statements of up to
    :data:`MAX_CACHED_PARAMS` parameters: the same rows in the same order, and the same
    all-or-nothing in a transaction, for a fraction of the driver's per-statement work (a
    pipelined ``executemany`` still binds and executes once per row). Any other statement
    comes back as one statement per row."""
    one = _rows_template(sql, 1)
    if one is None or len(rows) < 2:
        return [(sql, dict(row)) for row in rows]
    per = max(MAX_CACHED_PARAMS // len(one[1]), 1)
    statements = []
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        template, names = _rows_template(sql, len(chunk))  # type: ignore[misc]
        params = {f"{name}__{n}": row[name] for n, row in enumerate(chunk) for name in names}
        statements.append((template, params))
    return statements


class SqlCursor:
    """A cursor that speaks ``:name`` parameters on either engine."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> SqlCursor:
        if self.dialect == "postgres":
            self.raw.execute(to_pyformat(sql), params or {})
        else:
            self.raw.execute(sql, params or {})
        return self

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.dialect == "postgres":
            self.raw.executemany(to_pyformat(sql), rows)
        else:
            self.raw.executemany(sql, rows)

    def fetchone(self) -> dict[str, Any] | None:
        row = self.raw.fetchone()
        return None if row is None else dict(row)

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.raw.fetchall()]

    def tuples(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of one query as plain tuples in the order of its columns, for bulk
        reads: on PostgreSQL in binary format (``bytea`` arrives as it is stored rather than
        hex-encoded, and no dict is built per row; a page of 5,000 ledger entries with their
        events: ~5.6 -> ~1.7 us of CPU per row). The cursor is left in that mode."""
        if self.dialect == "postgres":
            self.raw.row_factory = tuple_row
            self.raw.execute(to_pyformat(sql), params or {}, binary=True)
            return list(self.raw.fetchall())
        self.raw.execute(sql, params or {})
        return [tuple(row) for row in self.raw.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self.raw.rowcount)


class SqlDatabase(ABC):
    """A database the service owns tables in (the keystore, for one)."""

    dialect: Dialect

    @abstractmethod
    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqlCursor]:
        """Run statements in one transaction: committed on success, rolled back on error."""
        yield SqlCursor(None, self.dialect)  # pragma: no cover

    def reading(self) -> AbstractContextManager[SqlCursor]:
        """A cursor for one statement that only reads (one statement sees one snapshot, so
        it needs no transaction around it): on PostgreSQL one round trip instead of three."""
        return self.transaction(write=False)

    def run_script(self, statements: list[str]) -> None:
        with self.transaction() as cur:
            for statement in statements:
                cur.execute(statement)

    def add_missing_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` the table lacks: the one
        migration step both engines need (SQLite has no ``ADD COLUMN IF NOT EXISTS``)."""
        with self.transaction() as cur:
            if self.dialect == "sqlite":
                rows = cur.execute(f"PRAGMA table_info({table})").fetchall()
                present = {str(r["name"]) for r in rows}
            else:
                rows = cur.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = :table AND table_schema = current_schema()",
                    {"table": table},
                ).fetchall()
                present = {str(r["column_name"]) for r in rows}
            for column, kind in columns.items():
                if column not in present:
                    cur.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def ping(self) -> None:
        with self.reading() as cur:
            cur.execute("SELECT 1 AS ok")

    @abstractmethod
    def close(self) -> None: ...


class SQLiteDatabase(SqlDatabase):
    """A SQLite file. Writers take the lock up front (BEGIN IMMEDIATE) so they never deadlock;
    ``secure_delete`` overwrites deleted content, which matters for key material."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqlCursor]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield SqlCursor(conn.cursor(), "sqlite")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresDatabase(SqlDatabase):
    """A PostgreSQL database reached through a small connection pool."""

    dialect: Dialect = "postgres"

    def __init__(self, conninfo: str, *, max_size: int = 8) -> None:
        self.pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            open=True,
            timeout=10,
        )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqlCursor]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield SqlCursor(cur, "postgres")

    @contextmanager
    def reading(self) -> Iterator[SqlCursor]:
        with self.pool.connection() as conn:
            conn.autocommit = True  # a client-side switch on an idle connection: no round trip
            try:
                with conn.cursor() as cur:
                    yield SqlCursor(cur, "postgres")
            finally:
                if not conn.closed:  # a broken connection is discarded by the pool anyway
                    conn.autocommit = False

    def close(self) -> None:
        self.pool.close()


def create_private_file(path: Path) -> None:
    """Create ``path`` (and its directory) readable by this user only, if it is missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def check_writable(path: Path) -> None:
    """SQLite writes beside a database (its WAL): the file and its directory must be
    writable. Raises the ``OSError`` that opening would have raised, with its cause."""
    for target in (path, path.parent):
        if not os.access(target, os.W_OK):
            read_only = os.statvfs(target).f_flag & os.ST_RDONLY
            code = errno.EROFS if read_only else errno.EACCES
            raise OSError(code, os.strerror(code), str(target))


def open_database(url: str) -> SqlDatabase:
    """``sqlite:///path/to/file.db`` or ``postgresql://user@host:port/db``."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteDatabase(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


IntegrityErrors: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)

_SQLITE_UNIQUE = {1555, 2067}  # SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a duplicate key, as when two writers take the
    same aggregate version, rather than another refusal (a CHECK, a trigger, a fault)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, pg_errors.UniqueViolation):
            return True
        if isinstance(seen, sqlite3.IntegrityError):
            return getattr(seen, "sqlite_errorcode", None) in _SQLITE_UNIQUE
        seen = seen.__cause__ or seen.__context__
    return False
