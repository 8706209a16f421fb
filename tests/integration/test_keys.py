"""Key lifecycle on both backends: rotation, destruction, backups, scheduled erasure."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from crypto.errors import CryptoError
from crypto.kek import LocalKeyEncryptionKey
from crypto.rotation import KekInUse, KekRotator, pending_erasures, record_kek_destroyed
from crypto.sql_keystore import SqlKeystore
from domain.errors import ErasurePending, SubjectErased
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from sqlstore.sql import SqlDatabase, open_database
from tests.clock import ManualClock
from tests.conftest import random_key
from tests.harness import PostgresServer
from tests.witness import WITNESS

NAMES = ["Yohanes Pattimura", "Kartini Rahayu", "Cut Nyak Meutia"]


def people(service: Service) -> tuple[uuid.UUID, list[uuid.UUID]]:
    tenant, _ = service.tenants.create("Keys").value
    ids = [service.contacts.register(tenant.id, "a", {"full_name": n})[0].id for n in NAMES]
    return tenant.id, ids


def rotated(settings: Settings, old_kek: str, new_kek: str) -> Service:
    """The same deployment restarted with a new KEK, the old one still available."""
    env = {
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_KEYSTORE_URL": settings.keystore_url,
        "CRM_KEK": new_kek,
        "CRM_KEK_PREVIOUS": old_kek,
        "CRM_INDEX_KEY": settings.index_key or "",
        "CRM_SIGNING_KEY": settings.signing_key or "",
        "CRM_LEDGER_SIGNING_KEY": settings.ledger_signing_key or "",
    }
    return bootstrap(Settings.from_env(env))


def raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key)


def backup_keystore(service: Service, request: pytest.FixtureRequest) -> Callable[[], SqlDatabase]:
    """Take a backup of the keystore now; the returned function restores it (a copy)."""
    url = service.settings.keystore_url
    if url.startswith("sqlite:///"):
        copy = Path(url.removeprefix("sqlite:///")).with_name("keys-backup.db")
        with sqlite3.connect(url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        return lambda: open_database(f"sqlite:///{copy}")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    dump = server.pg_dump(url.rsplit("/", 1)[1])
    name = "restored_" + uuid.uuid4().hex[:10]
    return lambda: open_database(server.restore(dump, name))


def test_rotation_rewraps_every_live_key_and_leaves_events_alone(
    service: Service,
) -> None:
    tenant_id, ids = people(service)
    events_before = service.crm.recorder.select_notifications(start=1, limit=1000)
    old = service.settings.kek
    assert old
    new = random_key()
    fresh = rotated(service.settings, old, new)
    try:
        rotator = KekRotator(fresh.keystore, batch_size=2)
        assert rotator.stale_count() == 3
        report = rotator.run()
        assert report.rewrapped == 3 and report.to_kek_id == fresh.keystore.kek.kek_id
        assert rotator.stale_count() == 0
        assert fresh.crm.recorder.select_notifications(start=1, limit=1000) == events_before
        for contact_id, name in zip(ids, NAMES, strict=True):
            opened = fresh.crm.open_contact(fresh.crm.contact(tenant_id, contact_id), WITNESS)
            assert opened["full_name"] == name
        # Only the new KEK from now on: everything still opens.
        only_new = SqlKeystore(
            fresh.keystore_db,
            LocalKeyEncryptionKey(fresh.keystore.kek._keys[fresh.keystore.kek.kek_id]),
        )
        assert only_new.key_for_opening(tenant_id, ids[0]).key_id
    finally:
        fresh.close()


def test_rotation_resumes_after_a_crash_between_batches(service: Service) -> None:
    people(service)
    old = service.settings.kek
    assert old
    new = random_key()
    fresh = rotated(service.settings, old, new)
    try:
        first = KekRotator(fresh.keystore, batch_size=1)
        assert first.rewrap_batch()[0] == 1  # then the process "dies"
        resumed = KekRotator(fresh.keystore, batch_size=1)
        assert resumed.stale_count() == 2
        assert resumed.run().rewrapped == 2
        assert resumed.stale_count() == 0
    finally:
        fresh.close()


def test_a_destroyed_key_is_never_rewrapped_back(service: Service) -> None:
    tenant_id, ids = people(service)
    service.erasures.erase(tenant_id, ids[1], "po", "asked", None)
    old = service.settings.kek
    assert old
    new = random_key()
    fresh = rotated(service.settings, old, new)
    try:
        assert KekRotator(fresh.keystore).run().rewrapped == 2
        with pytest.raises(SubjectErased):
            fresh.crm.open_contact(fresh.crm.contact(tenant_id, ids[1]), WITNESS)
    finally:
        fresh.close()


def test_pre_erasure_backup_is_useless_once_the_epoch_closes(
    service: Service, request: pytest.FixtureRequest
) -> None:
    tenant_id, ids = people(service)
    restore = backup_keystore(service, request)
    service.erasures.erase(tenant_id, ids[0], "po", "asked", None)
    assert [p.subject_id for p in pending_erasures(service.keystore)] == [str(ids[0])]

    old = service.settings.kek
    assert old
    new = random_key()
    fresh = rotated(service.settings, old, new)
    try:
        KekRotator(fresh.keystore).run()
        old_id = LocalKeyEncryptionKey.identify(raw(old))
        record_kek_destroyed(fresh.keystore, old_id)
        assert pending_erasures(fresh.keystore) == []
        with pytest.raises(KekInUse):
            record_kek_destroyed(fresh.keystore, fresh.keystore.kek.kek_id)

        # Every KEK still in existence is the new one alone.
        surviving = LocalKeyEncryptionKey(raw(new))
        backup = SqlKeystore(restore(), surviving)
        for subject in ids:
            with pytest.raises(CryptoError):
                backup.key_for_opening(tenant_id, subject)
        # The live keystore still opens the subjects that were not erased.
        for subject, name in zip(ids[1:], NAMES[1:], strict=True):
            contact = fresh.crm.contact(tenant_id, subject)
            assert fresh.crm.open_contact(contact, WITNESS)["full_name"] == name
    finally:
        fresh.close()


def test_scheduled_erasure_runs_when_due_and_cancelled_one_never_does(
    service: Service, clock: ManualClock
) -> None:
    tenant_id, ids = people(service)
    erasures = service.erasures
    kept, _ = erasures.schedule(tenant_id, ids[0], "po", "asked", None, timedelta(hours=1))
    doomed, _ = erasures.schedule(tenant_id, ids[1], "po", "asked", None, timedelta(hours=2))
    service.runner.catch_up()
    erasures.cancel(tenant_id, uuid.UUID(kept.id), "po")
    service.runner.catch_up()
    with pytest.raises(ErasurePending):
        erasures.cancel(tenant_id, uuid.UUID(kept.id), "po")

    assert erasures.run_due() == []  # nothing due yet
    clock.advance(hours=3)
    done = erasures.run_due()
    assert [c.subject_id for c in done] == [str(ids[1])]
    assert done[0].erasure_id == doomed.id
    service.runner.catch_up()
    assert erasures.run_due() == []
    assert erasures.find(tenant_id, uuid.UUID(doomed.id))["status"] == "executed"
    assert erasures.find(tenant_id, uuid.UUID(kept.id))["status"] == "cancelled"
    with pytest.raises(SubjectErased):
        service.crm.open_contact(service.crm.contact(tenant_id, ids[1]), WITNESS)
    assert service.crm.open_contact(service.crm.contact(tenant_id, ids[0]), WITNESS)["full_name"]


def test_key_lifecycle_is_recorded_without_key_material(service: Service) -> None:
    tenant_id, ids = people(service)
    service.erasures.erase(tenant_id, ids[0], "po", "asked", None)
    service.runner.catch_up()
    rows = service.read_models.query(
        "SELECT event_type FROM audit_timeline WHERE subject_id = :s ORDER BY position",
        {"s": str(ids[0])},
    )
    assert [r["event_type"] for r in rows] == [
        "Contact.Registered",
        "SubjectKey.Created",
        "Contact.Erased",
        "SubjectKey.Destroyed",
    ]
    with service.keystore_db.transaction(write=False) as cur:
        wrapped = [
            r["wrapped_key"] for r in cur.execute("SELECT wrapped_key FROM subject_keys").fetchall()
        ]
    blob = b"".join(bytes(n.state) for n in service.crm.recorder.select_notifications(1, 1000))
    for value in wrapped:
        if value:
            assert value.encode() not in blob
