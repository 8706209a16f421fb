"""The SQL database the keystore owns tables in: the same contract on both engines,
including :meth:`SqlDatabase.reading` (a lone read, outside a transaction on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlstore.sql import MAX_CACHED_PARAMS, SqlDatabase, as_multi_row, open_database
from tests.contract.backends import new_postgres_url
from tests.harness import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = new_postgres_url(server, "sqldb")
    database = open_database(url)
    with database.transaction() as cur:
        cur.execute("CREATE TABLE items (n INTEGER NOT NULL)")
        cur.execute("CREATE TABLE pairs (k INTEGER PRIMARY KEY, label TEXT NOT NULL)")
    yield database
    database.close()


def count(db: SqlDatabase) -> int:
    with db.reading() as cur:
        row = cur.execute("SELECT COUNT(*) AS n FROM items").fetchone()
    assert row is not None
    return int(row["n"])


def test_a_read_sees_what_committed_and_nothing_of_what_rolled_back(db: SqlDatabase) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO items (n) VALUES (1)")
    with pytest.raises(RuntimeError), db.transaction() as cur:
        cur.execute("INSERT INTO items (n) VALUES (2)")
        raise RuntimeError("the command failed after its insert")
    assert count(db) == 1


def test_a_failed_read_leaves_every_connection_usable_and_transactions_atomic(
    db: SqlDatabase,
) -> None:
    for _ in range(12):  # each failure hands its connection back to the pool, to be reused
        with pytest.raises(Exception, match="no_such_table"), db.reading() as cur:
            cur.execute("SELECT * FROM no_such_table")
    with pytest.raises(RuntimeError), db.transaction() as cur:
        cur.execute("INSERT INTO items (n) VALUES (3)")
        raise RuntimeError("rolled back")
    with db.transaction() as cur:
        cur.execute("INSERT INTO items (n) VALUES (4)")
    assert count(db) == 1


def test_a_run_of_single_row_inserts_stores_the_same_rows_as_multi_row_statements(
    db: SqlDatabase,
) -> None:
    rows = [{"k": k, "label": f"row {k}", "unused": None} for k in range(60)]
    statements = as_multi_row("INSERT INTO pairs (k, label) VALUES (:k, :label)", rows)
    with db.transaction() as cur:
        for sql, params in statements:
            cur.execute(sql, params)
    with db.reading() as cur:
        stored = cur.execute("SELECT k, label FROM pairs ORDER BY k").fetchall()
    assert stored == [{"k": r["k"], "label": r["label"]} for r in rows]
    assert 1 < len(statements) < len(rows)
    assert all(len(params) <= MAX_CACHED_PARAMS for _, params in statements)


def test_a_multi_row_insert_is_all_or_nothing(db: SqlDatabase) -> None:
    rows = [{"k": 1, "label": "one"}, {"k": 2, "label": "two"}, {"k": 1, "label": "again"}]
    [(sql, params)] = as_multi_row("INSERT INTO pairs (k, label) VALUES (:k, :label)", rows)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.transaction() as cur:
        cur.execute(sql, params)
    with db.reading() as cur:
        assert cur.execute("SELECT count(*) AS n FROM pairs").fetchone() == {"n": 0}


def test_statements_other_than_a_single_row_insert_stay_one_per_row() -> None:
    rows = [{"k": 1}, {"k": 2}]
    for sql in (
        "UPDATE pairs SET label = 'x' WHERE k = :k",
        "INSERT INTO pairs (k, label) VALUES (:k, 'fixed')",
        "INSERT INTO pairs (k) VALUES (:k) ON CONFLICT (k) DO NOTHING",
    ):
        assert as_multi_row(sql, rows) == [(sql, rows[0]), (sql, rows[1])]


def test_tuples_come_back_in_column_order_with_bytes_as_stored(db: SqlDatabase) -> None:
    blob = "BYTEA" if db.dialect == "postgres" else "BLOB"
    stored = bytes(range(256))
    with db.transaction() as cur:
        cur.execute(f"CREATE TABLE blobs (k INTEGER PRIMARY KEY, label TEXT, data {blob})")
        cur.execute(
            "INSERT INTO blobs (k, label, data) VALUES (:k, :label, :data)",
            {"k": 7, "label": "seven", "data": stored},
        )
        cur.execute("INSERT INTO blobs (k, label, data) VALUES (8, NULL, NULL)")
    with db.reading() as cur:
        rows = cur.tuples("SELECT data, k, label FROM blobs WHERE k >= :k ORDER BY k", {"k": 7})
    assert rows == [(stored, 7, "seven"), (None, 8, None)]
    assert type(rows[0][0]) is bytes
