"""Statements bound on the client and sent as one string (``storage.one_string``), on a real
PostgreSQL: values arrive exactly as server-side binding would store them, whatever they
hold; results come back by statement; a failure anywhere commits nothing and leaves the
connection idle for its pool."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from storage import one_string
from tests.harness import PostgresServer

TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=60)  # PostgreSQL text has no NUL


@pytest.fixture
def conn(postgres_server: PostgresServer) -> Iterator[psycopg.Connection[dict[str, object]]]:
    url = postgres_server.create_database(f"one_string_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
        c.execute("CREATE TABLE t (id bigserial PRIMARY KEY, s text, b bytea, u uuid, n text[])")
        c.execute("CREATE TABLE other (v text NOT NULL)")
        yield c


def _stored(conn: psycopg.Connection[dict[str, object]]) -> list[dict[str, object]]:
    return conn.execute("SELECT s, b, u, n FROM t ORDER BY id").fetchall()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(s=TEXT, b=st.binary(max_size=60), n=st.lists(TEXT, max_size=4))
def test_values_bound_on_the_client_are_stored_as_the_server_would_bind_them(
    conn: psycopg.Connection[dict[str, object]], s: str, b: bytes, n: list[str]
) -> None:
    u = uuid.uuid4()
    conn.execute("TRUNCATE t")
    with one_string.transaction(conn) as write:
        write.execute(
            "INSERT INTO t (s, b, u, n) VALUES (%(s)s, %(b)s, %(u)s, %(n)s)",
            {"s": s, "b": b, "u": u, "n": n},
        )
    conn.execute("INSERT INTO t (s, b, u, n) VALUES (%s, %s, %s, %s)", (s, b, u, n))
    one, two = _stored(conn)
    assert one == two == {"s": s, "b": b, "u": u, "n": n}


def test_a_value_that_looks_like_sql_is_only_a_value(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    hostile = "x'); DROP TABLE other; --\\'; SELECT 1; $$ $x$"
    with one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES (%s)", (hostile,))
        write.execute("INSERT INTO other (v) VALUES (%(v)s)", {"v": hostile})
    assert conn.execute("SELECT s FROM t").fetchone() == {"s": hostile}
    assert conn.execute("SELECT v FROM other").fetchone() == {"v": hostile}


def test_each_statement_gives_its_own_result_by_its_index(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    with one_string.transaction(conn) as write:
        inserted = write.execute("INSERT INTO t (s) VALUES ('a'), ('b') RETURNING s")
        plain = write.execute("INSERT INTO other (v) VALUES ('c')")
        selected = write.execute("SELECT count(*) AS n FROM t")
        results = write.send()
        write.execute("INSERT INTO other (v) VALUES (%s)", (f"after {len(results)}",))
    assert results[inserted].status == "INSERT 0 2"
    assert results[inserted].rows == [{"s": "a"}, {"s": "b"}]
    assert (results[plain].status, results[plain].rows) == ("INSERT 0 1", [])
    assert results[selected].rows == [{"n": 2}]
    assert [r["v"] for r in conn.execute("SELECT v FROM other ORDER BY v")] == ["after 4", "c"]


def _nothing_kept(conn: psycopg.Connection[dict[str, object]]) -> None:
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert _stored(conn) == []
    assert conn.execute("SELECT count(*) AS n FROM other").fetchone() == {"n": 0}


def test_a_failing_statement_in_the_first_string_commits_nothing(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    with pytest.raises(psycopg.errors.NotNullViolation), one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES ('kept?')")
        write.execute("INSERT INTO other (v) VALUES (NULL)")
        write.execute("INSERT INTO t (s) VALUES ('after the error')")
        write.send()
    _nothing_kept(conn)


def test_a_failure_between_the_strings_commits_nothing(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    with pytest.raises(TimeoutError), one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES ('kept?')")
        write.send()
        raise TimeoutError("the signer did not answer")
    _nothing_kept(conn)


def test_a_failing_statement_in_the_commit_string_commits_nothing(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    with pytest.raises(psycopg.errors.NotNullViolation), one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES ('kept?')")
        write.send()
        write.execute("INSERT INTO t (s) VALUES ('also kept?')")
        write.execute("INSERT INTO other (v) VALUES (%s)", (None,))
    _nothing_kept(conn)
    with one_string.transaction(conn) as write:  # and the connection writes again
        write.execute("INSERT INTO other (v) VALUES (%s)", ("written again",))
    assert conn.execute("SELECT v FROM other").fetchone() == {"v": "written again"}


def _prepared(conn: psycopg.Connection[dict[str, object]]) -> int:
    row = conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
    assert row is not None
    return int(str(row["n"]))


def test_a_statement_is_prepared_once_per_connection_and_a_name_used_twice_is_one_value(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    insert = "INSERT INTO t (s, n) VALUES (%(s)s, ARRAY[%(s)s, '100%%'])"
    for n in range(3):
        with one_string.transaction(conn) as write:
            write.execute(insert, {"s": f"v{n}"})
            write.execute(insert, {"s": f"w{n}"})
    assert _prepared(conn) == 1
    assert _stored(conn)[-1]["n"] == ["w2", "100%"]


def test_statements_whose_prepare_was_lost_to_a_failure_are_prepared_again(
    conn: psycopg.Connection[dict[str, object]],
) -> None:
    with pytest.raises(psycopg.errors.NotNullViolation), one_string.transaction(conn) as write:
        write.execute("INSERT INTO other (v) VALUES (%s)", (None,))  # fails before the next
        write.execute("INSERT INTO t (s) VALUES (%s)", ("never prepared",))
    with pytest.raises(psycopg.errors.NotNullViolation), one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES (%s)", ("prepared, then rolled back",))
        write.execute("INSERT INTO other (v) VALUES (%s)", (None,))
    with one_string.transaction(conn) as write:
        write.execute("INSERT INTO t (s) VALUES (%s)", ("kept",))
        write.execute("INSERT INTO other (v) VALUES (%s)", ("kept too",))
    assert [r["s"] for r in _stored(conn)] == ["kept"]
    assert conn.execute("SELECT v FROM other").fetchall() == [{"v": "kept too"}]
