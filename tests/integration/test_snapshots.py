"""Snapshots of long contacts, on SQLite and PostgreSQL alike: a contact read from its
snapshot is the contact its full replay gives, and a snapshot table changed by someone
with SQL access never changes what a read or a command sees (the service ignores what no
longer matches its signature and its event's ledger entry, and replays instead).

Contacts here are snapshotted every 10 events; each test's contact has 25, so its
snapshots are at versions 10 and 20 and a load replays 5 events after the latest.

The service here keeps no aggregates in memory (``CRM_AGGREGATE_CACHE_SIZE=0``), so every
load reads the snapshot, as the first load of a contact after a restart does; the last
tests run with the cache, which a changed snapshot cannot reach either.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from eventsourcing.application import Repository

from crypto.errors import KeyDestroyed
from domain.contact import Contact
from domain.errors import SubjectErased, VersionMismatch
from service.audit import StoreSource, verify_ledger
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from storage.snapshots import SIGNATURE_BYTES, BoundSnapshotStore
from tests.clock import ManualClock
from tests.witness import WITNESS

EVERY, EVENTS = 10, 25
SNAPSHOTTED = {"CRM_SNAPSHOT_EVERY_EVENTS": str(EVERY)}
NAME, TITLE = "Wulan Sekarsari Hadiningrat", "Penyelia Gudang Timur"


@pytest.fixture
def service(
    make_settings: Callable[..., Settings], backend: str, clock: ManualClock
) -> Iterator[Service]:
    svc = bootstrap(make_settings(backend, CRM_AGGREGATE_CACHE_SIZE="0", **SNAPSHOTTED), clock)
    try:
        yield svc
    finally:
        svc.close()


def snapshots(service: Service) -> BoundSnapshotStore:
    assert service.crm.snapshot_store is not None
    return service.crm.snapshot_store


def long_contact(service: Service) -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant's contact with EVENTS events, each update its own command."""
    tenant, _ = service.tenants.create("Toko Panjang").value
    contact, _ = service.contacts.register(tenant.id, "agent", {"full_name": NAME})
    for i in range(2, EVENTS + 1):
        service.contacts.update(tenant.id, contact.id, "agent", {"job_title": f"{TITLE} {i}"}, None)
    return tenant.id, contact.id


def full_replay(service: Service, contact_id: uuid.UUID, version: int | None = None) -> Contact:
    """The contact from its events alone, no snapshot consulted."""
    contact: Contact = Repository(service.crm.events).get(contact_id, version=version)
    return contact


def state(contact: Contact) -> dict[str, Any]:
    return {k: v for k, v in vars(contact).items() if k != "_pending_events"}


def stored_id(service: Service, contact_id: uuid.UUID) -> object:
    return contact_id.hex if service.crm.ledger_recorder.dialect == "sqlite" else contact_id


def snapshot_rows(service: Service) -> list[dict[str, Any]]:
    table = snapshots(service).table
    return service.crm.ledger_recorder.query(
        f"SELECT originator_id, originator_version, state FROM {table} ORDER BY originator_version"
    )


def rewrite(
    service: Service, contact_id: uuid.UUID, version: int, sets: str, **values: Any
) -> None:
    """Change one stored snapshot as an attacker with SQL access would."""
    service.crm.ledger_recorder.execute_write(
        f"UPDATE {snapshots(service).table} SET {sets}"
        " WHERE originator_id = :id AND originator_version = :version",
        {"id": stored_id(service, contact_id), "version": version, **values},
    )


def test_a_long_contact_reads_and_patches_as_its_full_replay(service: Service) -> None:
    tenant_id, contact_id = long_contact(service)
    read = service.crm.contact(tenant_id, contact_id)
    assert state(read) == state(full_replay(service, contact_id))
    assert service.crm.open_contact(read, WITNESS) == {
        "full_name": NAME,
        "job_title": f"{TITLE} {EVENTS}",
    }
    patched, _ = service.contacts.update(tenant_id, contact_id, "agent", {"age": 41}, EVENTS)
    again = service.crm.contact(tenant_id, contact_id)
    assert patched.version == again.version == EVENTS + 1
    assert state(again) == state(full_replay(service, contact_id))
    assert service.crm.open_contact(again, WITNESS)["age"] == 41
    assert snapshots(service).rejected == 0


def test_snapshots_are_taken_at_the_interval_and_stay_out_of_the_ledger(service: Service) -> None:
    long_contact(service)
    assert [r["originator_version"] for r in snapshot_rows(service)] == [10, 20]
    recorder = service.crm.ledger_recorder
    entries = recorder.query("SELECT COUNT(*) AS n FROM ledger_entries")[0]["n"]
    assert entries == recorder.max_notification_id()
    source = StoreSource(recorder)
    assert verify_ledger(source, service.ledger_signer.public_key).as_dict()["ok"] is True


def test_an_as_of_read_starts_from_the_snapshot_before_it(service: Service) -> None:
    _, contact_id = long_contact(service)
    as_of = service.crm.repository.get(contact_id, version=15)
    assert state(as_of) == state(full_replay(service, contact_id, version=15))


def _flip_a_byte(state: bytes) -> bytes:
    middle = SIGNATURE_BYTES + (len(state) - SIGNATURE_BYTES) // 2
    return state[:middle] + bytes([state[middle] ^ 1]) + state[middle + 1 :]


def _erased_flag(state: bytes) -> bytes:
    body = state[SIGNATURE_BYTES:]
    assert b'"erased":false' in body
    return state[:SIGNATURE_BYTES] + body.replace(b'"erased":false', b'"erased":true ')


@pytest.mark.parametrize("edit", [_flip_a_byte, _erased_flag], ids=["byte", "erased flag"])
def test_a_snapshot_whose_bytes_were_changed_is_ignored(
    service: Service, edit: Callable[[bytes], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id, contact_id = long_contact(service)
    latest = snapshot_rows(service)[-1]
    rewrite(service, contact_id, 20, "state = :state", state=edit(bytes(latest["state"])))
    with caplog.at_level(logging.WARNING, logger="crm.snapshots"):
        read = service.crm.contact(tenant_id, contact_id)
    assert state(read) == state(full_replay(service, contact_id))
    assert not read.erased
    assert snapshots(service).rejected == 1
    assert "snapshot ignored" in caplog.text
    patched, _ = service.contacts.update(tenant_id, contact_id, "agent", {"age": 30}, EVENTS)
    assert patched.version == EVENTS + 1


@pytest.mark.parametrize("version", [24, 99], ids=["earlier event", "beyond the stream"])
def test_a_snapshot_moved_to_another_version_is_ignored(service: Service, version: int) -> None:
    tenant_id, contact_id = long_contact(service)
    rewrite(service, contact_id, 20, "originator_version = :moved", moved=version)
    read = service.crm.contact(tenant_id, contact_id)
    assert read.version == EVENTS
    assert state(read) == state(full_replay(service, contact_id))
    assert snapshots(service).rejected == 1


def test_a_snapshot_moved_to_another_contact_is_ignored(service: Service) -> None:
    _, contact_id = long_contact(service)
    other_tenant, other_id = long_contact(service)
    service.crm.ledger_recorder.execute_write(
        f"DELETE FROM {snapshots(service).table} WHERE originator_id = :other",
        {"other": stored_id(service, other_id)},
    )
    rewrite(service, contact_id, 20, "originator_id = :other", other=stored_id(service, other_id))
    read = service.crm.contact(other_tenant, other_id)
    assert state(read) == state(full_replay(service, other_id))
    assert snapshots(service).rejected == 1


def test_an_event_changed_under_a_snapshot_stops_its_use_and_verify_names_it(
    service: Service,
) -> None:
    tenant_id, contact_id = long_contact(service)
    recorder = service.crm.ledger_recorder
    position = recorder.position_of(contact_id, 20)
    row = recorder.query(
        f"SELECT state FROM {recorder.events_table} WHERE {recorder.position_column} = :p",
        {"p": position},
    )[0]
    forged = bytes(row["state"]).replace(b'"actor":"agent"', b'"actor":"agenx"')
    recorder.execute_write(
        f"UPDATE {recorder.events_table} SET state = :s WHERE {recorder.position_column} = :p",
        {"s": forged, "p": position},
    )
    read = service.crm.contact(tenant_id, contact_id)
    assert state(read) == state(full_replay(service, contact_id))
    assert snapshots(service).rejected == 1
    verdict = verify_ledger(StoreSource(recorder), service.ledger_signer.public_key).as_dict()
    assert verdict["ok"] is False and verdict["first_bad_position"] == position


def test_after_erasure_a_snapshot_opens_nothing_and_the_contact_stays_erased(
    service: Service,
) -> None:
    tenant_id, contact_id = long_contact(service)
    service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None)
    contact = service.crm.contact(tenant_id, contact_id)
    assert contact.erased and contact.fields == {}
    with pytest.raises(SubjectErased):
        service.crm.open_contact(contact, WITNESS)
    for row in snapshot_rows(service):
        body = orjson.loads(bytes(row["state"])[SIGNATURE_BYTES:])
        fields = {f: (v, t) for f, (v, t) in body["state"]["fields"].items()}
        with pytest.raises(KeyDestroyed):
            service.crm.sealer.open_fields(tenant_id, contact_id, fields, WITNESS)


def test_snapshots_hold_no_plaintext(service: Service) -> None:
    long_contact(service)
    blob = b"".join(bytes(r["state"]) for r in snapshot_rows(service))
    assert blob and b"s1." in blob
    assert NAME.encode() not in blob and TITLE.encode() not in blob


class UnavailableSigner:
    """A signer (a KMS, say) that does not answer: no snapshot can be signed."""

    public_key = ""

    def sign(self, payload: bytes) -> str:
        raise TimeoutError("the signer did not answer")


def test_a_snapshot_that_cannot_be_taken_leaves_the_command_committed(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(snapshots(service), "signer", UnavailableSigner())
    with caplog.at_level(logging.WARNING, logger="crm.snapshots"):
        tenant_id, contact_id = long_contact(service)
    assert snapshot_rows(service) == []
    assert "snapshot not taken" in caplog.text
    assert service.crm.contact(tenant_id, contact_id).version == EVENTS


def test_with_snapshots_off_nothing_is_snapshotted(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    with bootstrap(make_settings(backend, CRM_SNAPSHOT_EVERY_EVENTS="0")) as svc:
        tenant_id, contact_id = long_contact(svc)
        assert svc.crm.snapshot_store is None
        assert svc.crm.contact(tenant_id, contact_id).version == EVENTS


def test_with_the_cache_a_changed_snapshot_is_never_read_and_a_restart_ignores_it(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    settings = make_settings(backend, **SNAPSHOTTED)  # the default cache
    with bootstrap(settings) as svc:
        tenant_id, contact_id = long_contact(svc)
        latest = snapshot_rows(svc)[-1]
        rewrite(svc, contact_id, 20, "state = :state", state=_erased_flag(bytes(latest["state"])))
        read = svc.crm.contact(tenant_id, contact_id)
        assert state(read) == state(full_replay(svc, contact_id)) and not read.erased
        assert snapshots(svc).rejected == 0  # served from memory: the snapshot was not read
    with bootstrap(settings) as restarted:
        read = restarted.crm.contact(tenant_id, contact_id)
        assert state(read) == state(full_replay(restarted, contact_id)) and not read.erased
        assert snapshots(restarted).rejected == 1


def test_with_the_cache_a_load_sees_what_another_process_stored(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    settings = make_settings(backend, **SNAPSHOTTED)
    with bootstrap(settings) as svc, bootstrap(settings) as other:
        tenant_id, contact_id = long_contact(svc)
        svc.crm.contact(tenant_id, contact_id)  # cached at version EVENTS
        other.contacts.update(tenant_id, contact_id, "agent", {"age": 52}, EVENTS)
        read = svc.crm.contact(tenant_id, contact_id)
        assert read.version == EVENTS + 1
        assert state(read) == state(full_replay(svc, contact_id))
        with pytest.raises(VersionMismatch):  # a stale If-Match is refused, not overwritten
            svc.contacts.update(tenant_id, contact_id, "agent", {"age": 53}, EVENTS)


def test_with_the_cache_a_failed_command_leaves_the_next_load_untouched(
    make_settings: Callable[..., Settings], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bootstrap(make_settings(backend, **SNAPSHOTTED)) as svc:
        tenant_id, contact_id = long_contact(svc)
        before = state(svc.crm.contact(tenant_id, contact_id))
        monkeypatch.setattr(svc.crm, "commit_events", _refuse)
        with pytest.raises(TimeoutError):
            svc.contacts.update(tenant_id, contact_id, "agent", {"age": 60}, None)
        monkeypatch.undo()
        assert state(svc.crm.contact(tenant_id, contact_id)) == before


def _refuse(*args: object, **kwargs: object) -> list[int]:
    raise TimeoutError("the database did not answer")
