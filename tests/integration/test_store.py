"""The event store, keystore and projections, run against SQLite and PostgreSQL alike.

Every test here takes the ``service`` fixture, which is parametrised over both backends:
one set of cases, two real stores.
"""

from __future__ import annotations

import sqlite3
import uuid

import psycopg
import pytest

from crypto.errors import KeyDestroyed
from domain.errors import SubjectErased
from service.bootstrap import Service
from service.errors import ConcurrentWrite
from service.settings import Settings
from tests.integration.racing import race_two_runners
from tests.witness import WITNESS

PERSONAL = {
    "full_name": "Rahmat Hidayatullah",
    "email": "rahmat.hidayat@contoh.co.id",
    "phone": "+6281398765432",
    "company": "PT Sinar Terang Abadi",
    "job_title": "Kepala Gudang Utama",
    "age": 47,
}


def stored_bytes(service: Service) -> list[bytes]:
    notifications = service.crm.recorder.select_notifications(start=1, limit=10_000)
    return [bytes(n.state) for n in notifications]


def new_contact(service: Service) -> tuple[uuid.UUID, uuid.UUID]:
    tenant, _ = service.tenants.create("Tenant").value
    contact, _ = service.contacts.register(tenant.id, "agent", PERSONAL)
    return tenant.id, contact.id


def test_stored_events_hold_only_ciphertext(service: Service) -> None:
    new_contact(service)
    blob = b"".join(stored_bytes(service))
    for value in PERSONAL.values():
        if isinstance(value, str):  # a two-digit age also occurs in timestamps and base64
            assert value.encode() not in blob
    assert b"s1." in blob


def test_contact_round_trips_through_the_store(service: Service) -> None:
    tenant_id, contact_id = new_contact(service)
    contact = service.crm.contact(tenant_id, contact_id)
    assert service.crm.open_contact(contact, WITNESS) == PERSONAL
    assert contact.version == 1


def test_lost_race_is_a_conflict_and_stores_nothing(service: Service) -> None:
    tenant_id, contact_id = new_contact(service)
    first = service.crm.contact(tenant_id, contact_id)
    second = service.crm.contact(tenant_id, contact_id)
    first.update(actor="a", changes={"company": "One"}, sealer=service.crm.sealer)
    second.update(actor="b", changes={"company": "Two"}, sealer=service.crm.sealer)
    service.crm.save(first)
    before = len(stored_bytes(service))
    with pytest.raises(ConcurrentWrite):
        service.crm.commit(second)
    assert len(stored_bytes(service)) == before
    latest = service.crm.contact(tenant_id, contact_id)
    assert service.crm.open_contact(latest, WITNESS)["company"] == "One"


def test_erasure_destroys_the_key_and_leaves_events_untouched(service: Service) -> None:
    tenant_id, contact_id = new_contact(service)
    before = stored_bytes(service)
    certificate = service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None).value
    after = stored_bytes(service)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 2  # Contact.Erased and SubjectKey.Destroyed
    assert certificate.ledger_position == len(before) + 1
    with pytest.raises(SubjectErased):
        service.crm.open_contact(service.crm.contact(tenant_id, contact_id), WITNESS)
    with pytest.raises(KeyDestroyed):
        service.keystore.key_for_sealing(tenant_id, contact_id)


def test_keystore_keeps_no_key_material_after_destruction(service: Service) -> None:
    tenant_id, contact_id = new_contact(service)
    service.keystore.destroy(tenant_id, contact_id, "erasure-1")
    again = service.keystore.destroy(tenant_id, contact_id, "erasure-2")
    assert again.already_destroyed
    assert again.erasure_id == "erasure-1"  # a repeat answers with the first destruction
    with service.keystore_db.transaction(write=False) as cur:
        row = cur.execute(
            "SELECT wrapped_key, kek_id, destroyed_at FROM subject_keys WHERE subject_id = :s",
            {"s": str(contact_id)},
        ).fetchone()
    assert row is not None
    assert row["wrapped_key"] is None and row["kek_id"] is None and row["destroyed_at"]


def test_subject_erased_before_it_had_a_key_never_gets_one(service: Service) -> None:
    tenant_id, subject = uuid.uuid4(), uuid.uuid4()
    service.keystore.destroy(tenant_id, subject, "erasure-1")
    with pytest.raises(KeyDestroyed):
        service.keystore.key_for_sealing(tenant_id, subject)


def test_projection_applies_each_event_once(service: Service) -> None:
    tenant_id, _ = new_contact(service)
    service.runner.catch_up()
    service.runner.catch_up()
    head = service.runner.head()
    assert set(service.runner.positions().values()) == {head}
    timeline = service.read_models.query("SELECT position FROM audit_timeline ORDER BY position")
    assert [r["position"] for r in timeline] == list(range(1, head + 1))
    rows = service.read_models.query(
        "SELECT * FROM contacts_view WHERE tenant_id = :t", {"t": str(tenant_id)}
    )
    assert len(rows) == 1
    assert all(PERSONAL["full_name"] not in str(v) for v in rows[0].values())


def test_two_runners_racing_apply_each_event_once(
    service: Service, make_settings: object, backend: str
) -> None:
    tenant, _ = service.tenants.create("Racing").value
    for i in range(30):
        service.contacts.register(tenant.id, "agent", {"full_name": f"Person {i}"})
    assert race_two_runners(service) == []
    count = service.read_models.query("SELECT COUNT(*) AS n FROM contacts_view")[0]["n"]
    assert count == 30
    timeline = service.read_models.query("SELECT COUNT(*) AS n FROM audit_timeline")[0]["n"]
    assert timeline == service.runner.head()


def event_store_tables(settings: Settings) -> set[str]:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
    return {r[0] for r in rows}


def test_keystore_lives_outside_the_event_store(service: Service) -> None:
    new_contact(service)
    tables = event_store_tables(service.settings)
    assert tables & {"stored_events", "crm_events"}
    assert "subject_keys" not in tables
