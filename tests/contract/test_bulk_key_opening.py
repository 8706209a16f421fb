"""Bulk key reads (``Keystore.keys_for_opening``, what a rebuild opens its batches with) keep
the rules of one-by-one opening on every keystore: an erased subject, one never keyed and
another tenant's subject open nothing, from a warm cache or from storage alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crypto import aead
from crypto.kek import LocalKeyEncryptionKey
from crypto.keystore import InMemoryKeystore, Keystore
from crypto.sql_keystore import SqlKeystore
from sqlstore.sql import open_database
from tests.contract.backends import new_postgres_url
from tests.harness import PostgresServer


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Keystore]]:
    """Opens the same keystore as another process would (its own, empty, key cache)."""
    if request.param == "memory":
        keystore = InMemoryKeystore()
        yield lambda: keystore
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = new_postgres_url(server, "keys")
    kek = LocalKeyEncryptionKey(aead.new_key())
    opened = []

    def open_again() -> Keystore:
        db = open_database(url)
        opened.append(db)
        keystore = SqlKeystore(db, kek)
        keystore.create_tables()
        keystore.register_kek(allow_new=True)
        return keystore

    yield open_again
    for db in opened:
        db.close()


def test_bulk_opening_finds_live_keys_and_leaves_out_the_rest(
    processes: Callable[[], Keystore],
) -> None:
    keystore = processes()
    tenant, other = uuid.uuid4(), uuid.uuid4()
    live = [uuid.uuid4() for _ in range(3)]
    keys = {s: keystore.key_for_sealing(tenant, s).key for s in live}
    erased, never, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    keystore.key_for_sealing(tenant, erased)
    keystore.destroy(tenant, erased, "erasure-1")
    keystore.key_for_sealing(other, elsewhere)
    asked = [*live, erased, never, elsewhere, live[0]]

    for process in (keystore, processes()):  # cached keys, and keys read from storage
        found = process.keys_for_opening(tenant, asked)

        assert {s: k.key for s, k in found.items()} == keys
