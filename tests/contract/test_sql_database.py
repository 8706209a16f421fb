"""The SQL database the keystore owns tables in: the same contract on both engines,
including :meth:`SqlDatabase.reading` (a lone read, outside a transaction on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlstore.sql import SqlDatabase, open_database
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
