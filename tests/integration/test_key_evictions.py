"""A key destroyed in one process is gone from every other process's cache at once
(PostgreSQL keystores, :mod:`crypto.key_evictions`), not only when the cache's TTL ends.

Two services on one deployment stand for two API processes: one caches a subject's key by
opening its values, the other erases the subject.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from crypto.errors import KeyDestroyed
from crypto.key_evictions import DESTROYED_CHANNEL
from domain.contact import Contact
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.witness import WITNESS

NAME = "Dewi Anggraini Kusumawardhani"
DEADLINE_S = 5.0


@pytest.fixture
def two_processes(make_settings: Callable[..., Settings]) -> Iterator[tuple[Service, Service]]:
    settings = make_settings("postgres")
    with bootstrap(settings) as first, bootstrap(settings) as second:
        yield first, second


def cached_contact(reader: Service, writer: Service) -> tuple[uuid.UUID, Contact]:
    """A contact ``writer`` registered, loaded and opened by ``reader`` (its key cached)."""
    tenant, _ = writer.tenants.create("Toko Kunci").value
    registered = writer.contacts.register(tenant.id, "agent", {"full_name": NAME}).value
    listening(reader)
    contact = reader.crm.contact(tenant.id, registered.id)
    assert reader.crm.open_contact(contact, WITNESS) == {"full_name": NAME}
    assert reader.keystore.cache.get(contact.id) is not None
    return tenant.id, contact


def listening(service: Service) -> None:
    listener = service.keystore._listener
    assert listener is not None, "a PostgreSQL keystore follows destructions"
    assert listener.listening.wait(DEADLINE_S)


def evicted(service: Service, subject_id: uuid.UUID) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while service.keystore.cache.get(subject_id) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_erasure_in_another_process_evicts_the_cached_key_at_once(
    two_processes: tuple[Service, Service],
) -> None:
    writer, reader = two_processes
    tenant_id, contact = cached_contact(reader, writer)
    writer.erasures.erase(tenant_id, contact.id, "po", "subject asked", None)
    assert evicted(reader, contact.id)  # well before the cache's 30 s
    with pytest.raises(KeyDestroyed):  # the values it held before the erasure stay shut
        reader.crm.sealer.open_fields(tenant_id, contact.id, contact.fields, WITNESS)


def test_a_lost_listening_connection_clears_the_cache_and_listens_again(
    two_processes: tuple[Service, Service],
) -> None:
    writer, reader = two_processes
    tenant_id, contact = cached_contact(reader, writer)
    with psycopg.connect(reader.settings.keystore_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE %s",
            (f'LISTEN "{DESTROYED_CHANNEL}"%',),
        )
    assert evicted(reader, contact.id)  # a destruction may have gone unheard meanwhile
    listening(reader)  # back, and evicting again
    reader.crm.open_contact(contact, WITNESS)
    assert reader.keystore.cache.get(contact.id) is not None
    writer.erasures.erase(tenant_id, contact.id, "po", "subject asked", None)
    assert evicted(reader, contact.id)
