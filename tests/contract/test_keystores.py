"""One keystore contract, run on every implementation: ``SqlKeystore`` on SQLite and on
PostgreSQL, and ``InMemoryKeystore``, which the domain's unit tests trust to behave the same.

The rules (DESIGN.md invariants 7 and 10, and crypto-shredding itself):

- the erasure fence: a destroyed subject never gets a key again, nor does one erased before
  it ever had a key, whichever process asks;
- tenant ownership: another tenant's subject id never opens, seals or erases;
- one key per subject, even when many first uses race;
- destruction is idempotent and answers with the first erasure (its id, key, time), even
  when destructions race;
- key material is never stored unwrapped, and a destroyed key's wrapped form is gone.

"Another process" is a second keystore over the same database, with its own key cache; the
in-memory keystore has no storage to share, so there the same instance stands for both.
The last rule is about storage and is not run on the in-memory keystore, which stores
nothing: its keys live only in the test process's memory, which is what it is for.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest

from crypto import aead
from crypto.errors import KeyDestroyed
from crypto.kek import LocalKeyEncryptionKey
from crypto.keystore import InMemoryKeystore, Keystore
from crypto.sql_keystore import SqlKeystore
from sqlstore.sql import SqlDatabase, open_database
from tests.contract.backends import new_postgres_url
from tests.contract.key_batches import KeyBatchCases
from tests.harness import PostgresServer

T = TypeVar("T")
OpenAgain = Callable[[], Keystore]
RACERS = 8


def race(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at once (all released together by a barrier); their results in order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(released, calls))


class KeystoreContract:
    """The cases every keystore passes; subclasses provide ``keystore`` and ``open_again``
    (the same keystore as another process would open it)."""

    def test_first_use_creates_the_key_and_later_uses_find_it(self, keystore: Keystore) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()

        first = keystore.key_for_sealing(tenant, subject)
        again = keystore.key_for_sealing(tenant, subject)

        assert first.created and not again.created
        assert (again.key_id, again.key) == (first.key_id, first.key)
        assert keystore.key_for_opening(tenant, subject).key == first.key

    def test_a_subject_that_never_had_a_key_does_not_open(self, keystore: Keystore) -> None:
        with pytest.raises(KeyDestroyed):
            keystore.key_for_opening(uuid.uuid4(), uuid.uuid4())

    def test_a_destroyed_subject_never_gets_a_key_again(
        self, keystore: Keystore, open_again: OpenAgain
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        keystore.key_for_sealing(tenant, subject)

        keystore.destroy(tenant, subject, "erasure-1")

        for process in (keystore, open_again()):
            with pytest.raises(KeyDestroyed):
                process.key_for_sealing(tenant, subject)
            with pytest.raises(KeyDestroyed):
                process.key_for_opening(tenant, subject)

    def test_a_subject_erased_before_its_first_key_never_gets_one(
        self, keystore: Keystore, open_again: OpenAgain
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()

        keystore.destroy(tenant, subject, "erasure-1")

        for process in (keystore, open_again()):
            with pytest.raises(KeyDestroyed):
                process.key_for_sealing(tenant, subject)

    def test_another_tenants_subject_never_opens_or_seals(
        self, keystore: Keystore, open_again: OpenAgain
    ) -> None:
        owner, intruder, subject = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        keystore.key_for_sealing(owner, subject)

        for process in (keystore, open_again()):  # a cached key, and one read from storage
            with pytest.raises(KeyDestroyed):
                process.key_for_opening(intruder, subject)
            with pytest.raises(KeyDestroyed):
                process.key_for_sealing(intruder, subject)

    def test_another_tenant_cannot_erase_a_subject(self, keystore: Keystore) -> None:
        owner, intruder, subject = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        key = keystore.key_for_sealing(owner, subject)

        with pytest.raises(KeyDestroyed):
            keystore.destroy(intruder, subject, "erasure-1")

        assert keystore.key_for_opening(owner, subject).key == key.key

    def test_racing_first_uses_share_one_key(
        self, keystore: Keystore, open_again: OpenAgain
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        processes = [open_again() for _ in range(RACERS)]

        keys = race([partial(p.key_for_sealing, tenant, subject) for p in processes])

        assert len({(k.key_id, k.key) for k in keys}) == 1
        assert sum(k.created for k in keys) == 1
        assert keystore.key_for_opening(tenant, subject).key == keys[0].key

    def test_racing_first_uses_of_many_subjects_give_each_subject_one_key(
        self, keystore: Keystore
    ) -> None:
        tenant = uuid.uuid4()
        subjects = [uuid.uuid4() for _ in range(RACERS)] * 4  # each raced by four threads

        keys = race([partial(keystore.key_for_sealing, tenant, s) for s in subjects])

        found: dict[uuid.UUID, set[tuple[str, bytes]]] = defaultdict(set)
        for subject, key in zip(subjects, keys, strict=True):
            found[subject].add((key.key_id, key.key))
        assert [len(one) for one in found.values()] == [1] * RACERS
        assert len(set().union(*found.values())) == RACERS  # and no two subjects share one
        assert sum(k.created for k in keys) == RACERS

    @pytest.mark.parametrize("had_a_key", [True, False])
    def test_destroying_again_answers_with_the_first_destruction(
        self, keystore: Keystore, had_a_key: bool
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        if had_a_key:
            keystore.key_for_sealing(tenant, subject)

        first = keystore.destroy(tenant, subject, "erasure-1")
        again = keystore.destroy(tenant, subject, "erasure-2")

        assert not first.already_destroyed and again.already_destroyed
        assert first.erasure_id == again.erasure_id == "erasure-1"
        assert (again.key_id, again.destroyed_at) == (first.key_id, first.destroyed_at)

    @pytest.mark.parametrize("had_a_key", [True, False])
    def test_racing_destructions_agree_on_the_first(
        self, keystore: Keystore, open_again: OpenAgain, had_a_key: bool
    ) -> None:
        tenant, subject = uuid.uuid4(), uuid.uuid4()
        if had_a_key:
            keystore.key_for_sealing(tenant, subject)
        processes = [open_again() for _ in range(RACERS)]

        results = race(
            [partial(p.destroy, tenant, subject, f"erasure-{i}") for i, p in enumerate(processes)]
        )

        assert sum(not r.already_destroyed for r in results) == 1
        assert len({(r.erasure_id, r.key_id, r.destroyed_at) for r in results}) == 1
        later = keystore.destroy(tenant, subject, "erasure-later")
        assert later.erasure_id == results[0].erasure_id


class StoredKeystoreContract(KeystoreContract):
    """The rule about what reaches storage, for keystores that have any."""

    def dump(self) -> bytes:
        """Everything the keystore's database holds at rest, as a backup would take it."""
        raise NotImplementedError

    def test_key_material_is_never_stored_unwrapped(self, keystore: Keystore) -> None:
        tenant = uuid.uuid4()
        keys = [keystore.key_for_sealing(tenant, uuid.uuid4()) for _ in range(3)]
        erased = uuid.uuid4()
        keys.append(keystore.key_for_sealing(tenant, erased))
        keystore.destroy(tenant, erased, "erasure-1")

        stored = self.dump()

        assert all(k.key_id.encode() in stored for k in keys)  # the dump holds their rows
        for key in keys:
            for form in (key.key, key.key.hex().encode(), *base64_forms(key.key)):
                assert form not in stored


def base64_forms(raw: bytes) -> list[bytes]:
    unpadded = base64.b64encode(raw).rstrip(b"=")
    return [unpadded, base64.urlsafe_b64encode(raw).rstrip(b"=")]


def sql_keystore(db: SqlDatabase, kek: LocalKeyEncryptionKey) -> SqlKeystore:
    keystore = SqlKeystore(db, kek)
    keystore.create_tables()
    keystore.register_kek(allow_new=True)
    return keystore


class SqlKeystoreCases(StoredKeystoreContract, KeyBatchCases):
    """Fixtures shared by the SQL keystores: one database, a keystore per "process"; and
    the cases of first keys stored by group commit."""

    url: str
    opened: list[SqlDatabase]

    @pytest.fixture
    def kek(self) -> LocalKeyEncryptionKey:
        return LocalKeyEncryptionKey(aead.new_key())

    @pytest.fixture
    def keystore(self, database_url: str, kek: LocalKeyEncryptionKey) -> Iterator[Keystore]:
        self.url, self.opened = database_url, []
        yield self.open(kek)
        for db in self.opened:
            db.close()

    @pytest.fixture
    def open_again(self, keystore: Keystore, kek: LocalKeyEncryptionKey) -> OpenAgain:
        return lambda: self.open(kek)

    def open(self, kek: LocalKeyEncryptionKey) -> SqlKeystore:
        db = open_database(self.url)
        self.opened.append(db)
        return sql_keystore(db, kek)


class TestSqlKeystoreOnSQLite(SqlKeystoreCases):
    @pytest.fixture
    def database_url(self, tmp_path: Path) -> str:
        self.path = tmp_path / "keys.db"
        return f"sqlite:///{self.path}"

    def dump(self) -> bytes:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())


class TestSqlKeystoreOnPostgres(SqlKeystoreCases):
    @pytest.fixture
    def database_url(self, postgres_server: PostgresServer) -> str:
        self.server = postgres_server
        return new_postgres_url(postgres_server, "keys")

    def dump(self) -> bytes:
        return self.server.pg_dump(urlsplit(self.url).path.lstrip("/"))


class TestInMemoryKeystore(KeystoreContract):
    """No storage, so no dump: see the module docstring."""

    @pytest.fixture
    def keystore(self) -> Keystore:
        return InMemoryKeystore()

    @pytest.fixture
    def open_again(self, keystore: Keystore) -> OpenAgain:
        return lambda: keystore
