"""Group commit of first keys (``crypto/key_creation.py``): cases every SQL keystore passes.

Concurrent first uses share one keystore transaction, and sharing it must not weaken a
rule: each subject still gets exactly one key, an erasure that lands while a creation waits
still fences it (DESIGN.md invariant 10), and a row the database refuses fails only its own
creation (invariant 13: nothing but allowed orphan keys survives a failure, and the store
stays writable).

To put creations in one batch without timing, the keystore under test writes through a
:class:`GatedDatabase`: a first creation is held at the gate, everything started meanwhile
waits behind it, and opening the gate commits the first alone and then all the others
together. The gate also counts write transactions, so the tests count commits rather than
trusting the keystore's own batch sizes.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import psycopg_pool
import pytest

from crypto.errors import KeyDestroyed
from crypto.kek import LocalKeyEncryptionKey
from crypto.keystore import DataKey, Keystore
from crypto.sql_keystore import SqlKeystore
from sqlstore.sql import SqlCursor, SqlDatabase, open_database
from tests.harness import wait_until

NEIGHBOURS = 3
MANY = 16
FAULT = "injected fault"


def refuse_subject(subject: uuid.UUID) -> dict[str, list[str]]:
    """A trigger that makes the database refuse the insert of ``subject``'s row (and only
    that row), as a constraint, a full disk or a bad value would: a real database error,
    raised inside whatever transaction carries the row."""
    return {
        "sqlite": [
            f"CREATE TRIGGER refuse_one BEFORE INSERT ON subject_keys"
            f" WHEN NEW.subject_id = '{subject}' BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
        ],
        "postgres": [
            "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.subject_id = '{subject}' THEN RAISE EXCEPTION '{FAULT}'; END IF;"
            " RETURN NEW; END $$",
            "CREATE TRIGGER refuse_one BEFORE INSERT ON subject_keys"
            " FOR EACH ROW EXECUTE FUNCTION refuse_one()",
        ],
    }


def unreachable(dialect: str) -> Exception:
    """What each engine raises when the keystore cannot take a write at all (stand-ins:
    a real pool timeout or busy file takes its full timeout to happen)."""
    if dialect == "postgres":
        return psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec")
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5  # SQLITE_BUSY, after the busy timeout
    return locked


class GatedDatabase(SqlDatabase):
    """The keystore's database with its writes held at a gate while a test lines creations
    up behind them (as a slow flush would hold them), and counted: one write, one commit.
    Its writes can also be made to fail, as if the database could not be reached."""

    def __init__(self, real: SqlDatabase) -> None:
        self.real = real
        self.dialect = real.dialect
        self.writes = 0
        self.failure: Callable[[], Exception] | None = None
        self._open = threading.Event()
        self._open.set()
        self._count = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqlCursor]:
        if write:
            self._open.wait()
            with self._count:
                self.writes += 1
            if self.failure is not None:
                raise self.failure()
        with self.real.transaction(write=write) as cur:
            yield cur

    @contextmanager
    def held(self) -> Iterator[None]:
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def close(self) -> None:
        self.real.close()


@dataclass
class BatchSizes:
    """Stands in for the ``crm_key_batch_keys`` histogram."""

    seen: list[float] = field(default_factory=list)

    def observe(self, amount: float) -> None:
        self.seen.append(amount)


@dataclass
class Gated:
    """A keystore ("process") writing through a gate, and what it observed."""

    keystore: SqlKeystore
    db: GatedDatabase
    batches: BatchSizes

    def in_one_batch(
        self,
        calls: Sequence[Callable[[], DataKey]],
        meanwhile: Callable[[], object] | None = None,
    ) -> list[Future[DataKey]]:
        """Run ``calls`` so that their creations all wait behind a first one held at the
        gate, do ``meanwhile`` while they wait, then let them commit (as one batch)."""
        creations = self.keystore.creations
        with ThreadPoolExecutor(len(calls) + 1) as pool:
            with self.db.held():
                first = pool.submit(self.keystore.key_for_sealing, uuid.uuid4(), uuid.uuid4())
                wait_until(lambda: creations.waiting == 1, 10, "the first creation waits")
                futures = [pool.submit(call) for call in calls]
                wanted = 1 + len(calls)
                wait_until(lambda: creations.waiting == wanted, 10, "every creation waits")
                if meanwhile is not None:
                    meanwhile()
            wait([first, *futures])
        return futures


OpenAgain = Callable[[], Keystore]


class KeyBatchCases:
    """Mixed into the SQL keystores' cases, whose fixtures set ``url`` and ``opened``."""

    url: str
    opened: list[SqlDatabase]

    @pytest.fixture
    def gated(self, keystore: Keystore, kek: LocalKeyEncryptionKey) -> Gated:
        db = GatedDatabase(open_database(self.url))
        self.opened.append(db)
        batches = BatchSizes()
        return Gated(SqlKeystore(db, kek, key_batch_sizes=batches), db, batches)

    def test_a_lone_first_use_commits_at_once_as_a_batch_of_one(self, gated: Gated) -> None:
        key = gated.keystore.key_for_sealing(uuid.uuid4(), uuid.uuid4())

        assert key.created
        assert (gated.batches.seen, gated.db.writes) == ([1], 1)

    def test_concurrent_first_uses_share_one_commit_and_get_distinct_durable_keys(
        self, gated: Gated, open_again: OpenAgain
    ) -> None:
        tenant, subjects = uuid.uuid4(), [uuid.uuid4() for _ in range(MANY)]
        seal = gated.keystore.key_for_sealing

        futures = gated.in_one_batch([partial(seal, tenant, s) for s in subjects])

        keys = [f.result() for f in futures]
        assert all(k.created for k in keys)
        assert len({k.key_id for k in keys}) == len({k.key for k in keys}) == MANY
        assert (gated.batches.seen, gated.db.writes) == ([1, MANY], 2)
        reopened = open_again()  # another process: nothing cached, read from storage
        assert [reopened.key_for_opening(tenant, s).key for s in subjects] == [k.key for k in keys]

    def test_two_first_uses_of_one_subject_in_one_batch_share_its_key(
        self, gated: Gated, open_again: OpenAgain
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        seal = partial(gated.keystore.key_for_sealing, tenant)

        futures = gated.in_one_batch([partial(seal, subject), partial(seal, subject)])

        keys = [f.result() for f in futures]
        assert gated.batches.seen == [1, 2]
        assert len({(k.key_id, k.key) for k in keys}) == 1
        assert sum(k.created for k in keys) == 1
        assert open_again().key_for_opening(tenant, subject).key == keys[0].key

    def test_a_subject_erased_while_its_first_key_waits_in_a_batch_gets_none(
        self, gated: Gated, open_again: OpenAgain
    ) -> None:
        tenant, erased = uuid.uuid4(), uuid.uuid4()
        neighbours = [uuid.uuid4() for _ in range(NEIGHBOURS)]
        seal = partial(gated.keystore.key_for_sealing, tenant)
        erasure = partial(open_again().destroy, tenant, erased, "erasure-1")

        futures = gated.in_one_batch([partial(seal, s) for s in (erased, *neighbours)], erasure)

        assert gated.batches.seen == [1, 1 + NEIGHBOURS]  # the erased subject was in the batch
        assert isinstance(futures[0].exception(), KeyDestroyed)
        assert all(f.result().created for f in futures[1:])
        for process in (gated.keystore, open_again()):
            with pytest.raises(KeyDestroyed):
                process.key_for_sealing(tenant, erased)

    def test_a_row_the_database_refuses_fails_only_its_own_creation(
        self, gated: Gated, open_again: OpenAgain
    ) -> None:
        tenant, refused = uuid.uuid4(), uuid.uuid4()
        neighbours = [uuid.uuid4() for _ in range(NEIGHBOURS)]
        gated.db.real.run_script(refuse_subject(refused)[gated.db.dialect])
        seal = partial(gated.keystore.key_for_sealing, tenant)

        futures = gated.in_one_batch([partial(seal, s) for s in (refused, *neighbours)])

        assert FAULT in str(futures[0].exception())
        keys = [f.result() for f in futures[1:]]
        assert all(k.created for k in keys)
        # the first alone, the shared attempt, then each creation of the batch alone
        assert (gated.batches.seen, gated.db.writes) == ([1, 1 + NEIGHBOURS], 3 + NEIGHBOURS)
        reopened = open_again()
        assert [reopened.key_for_opening(tenant, s).key for s in neighbours] == [
            k.key for k in keys
        ]
        with pytest.raises(KeyDestroyed):
            reopened.key_for_opening(tenant, refused)  # nothing stored for it

    def test_an_unreachable_keystore_fails_the_whole_batch_at_once(self, gated: Gated) -> None:
        tenant, subjects = uuid.uuid4(), [uuid.uuid4() for _ in range(1 + NEIGHBOURS)]
        seal = partial(gated.keystore.key_for_sealing, tenant)
        error = partial(unreachable, gated.db.dialect)

        futures = gated.in_one_batch(
            [partial(seal, s) for s in subjects], partial(setattr, gated.db, "failure", error)
        )

        assert all(type(f.exception()) is type(error()) for f in futures)
        # the first alone, the shared attempt, and no retry one by one
        assert (gated.batches.seen, gated.db.writes) == ([1, 1 + NEIGHBOURS], 2)
        gated.db.failure = None
        assert gated.keystore.key_for_sealing(tenant, subjects[0]).created  # still writable
