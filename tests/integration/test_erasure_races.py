"""Once a subject's key is destroyed, the erasure is recorded, whatever races it (invariant 13).

The key is destroyed first and the erasure appended after; in between, a concurrent writer
can take the contact's next version, the store can fail, or the process can die. Each case
is forced here deterministically, on both engines: the erasure ends recorded, with its
``SubjectKey.Destroyed`` event and a certificate, never a 409.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any
from uuid import UUID

import pytest

from crypto.certificates import ErasureCertificate
from crypto.errors import KeyDestroyed
from crypto.keystore import Destruction
from domain.contact import Contact
from domain.errors import SubjectErased
from domain.keys import subject_key_id
from service.bootstrap import Service
from service.errors import CommitFailed
from tests.faults import TimingOutSigner
from tests.witness import WITNESS


def new_contact(service: Service) -> tuple[UUID, UUID]:
    tenant, _ = service.tenants.create("Races").value
    contact, _ = service.contacts.register(
        tenant.id, "agent", {"full_name": "Wayan Sudarsana", "email": "wayan@contoh.id"}
    )
    return tenant.id, contact.id


def stored_types(service: Service, aggregate_id: UUID) -> list[str]:
    return [
        type(service.crm.mapper.to_domain_event(e)).__qualname__
        for e in service.crm.recorder.select_events(aggregate_id)
    ]


def assert_recorded(service: Service, contact_id: UUID, certificate: ErasureCertificate) -> None:
    head = service.crm.contact_head(UUID(certificate.tenant_id), contact_id)
    assert head.erased
    assert head.last_event.erasure_id == certificate.erasure_id
    assert service.crm.position_of(contact_id, head.version) == certificate.ledger_position
    assert stored_types(service, subject_key_id(contact_id)) == [
        "SubjectKey.Created",
        "SubjectKey.Destroyed",
    ]
    assert service.keystore.unrecorded_erasures() == []


def test_an_erasure_that_loses_the_next_version_to_a_writer_is_recorded_on_the_new_head(
    service: Service,
) -> None:
    tenant_id, contact_id = new_contact(service)
    in_flight = service.crm.contact(tenant_id, contact_id)
    in_flight.update(actor="agent", changes={"job_title": "Juru Masak"}, sealer=service.crm.sealer)
    real_destroy = service.keystore.destroy

    def destroy_then_let_the_writer_in(tenant: UUID, subject: UUID, erasure: str) -> Destruction:
        destruction = real_destroy(tenant, subject, erasure)
        service.crm.commit(in_flight)  # sealed before the key went: takes version 2
        return destruction

    service.keystore.destroy = destroy_then_let_the_writer_in  # type: ignore[method-assign]

    certificate = service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None).value

    assert_recorded(service, contact_id, certificate)
    assert service.crm.contact_head(tenant_id, contact_id).version == 3


def test_a_retry_after_the_store_failed_records_the_erasure_and_the_key_destruction(
    service: Service,
) -> None:
    tenant_id, contact_id = new_contact(service)
    ledger = service.crm.ledger
    real, ledger.signer = ledger.signer, TimingOutSigner(ledger.signer)
    try:
        with pytest.raises(CommitFailed):
            service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None)
    finally:
        ledger.signer = real
    with pytest.raises(KeyDestroyed):  # the key is gone already: nothing reads the subject
        service.crm.open_contact(service.crm.contact(tenant_id, contact_id), WITNESS)
    (pending,) = service.keystore.unrecorded_erasures()

    certificate = service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None).value

    assert certificate.erasure_id == pending["erasure_id"]  # the same erasure, now recorded
    assert_recorded(service, contact_id, certificate)


def test_the_sweep_records_an_erasure_whose_process_died_after_destroying_the_key(
    service: Service,
) -> None:
    tenant_id, contact_id = new_contact(service)
    erasure_id = str(uuid.uuid4())
    service.keystore.destroy(tenant_id, contact_id, erasure_id)  # ...and then the process died

    recovered = service.erasures.run_due()

    assert [c.erasure_id for c in recovered] == [erasure_id]
    assert_recorded(service, contact_id, recovered[0])
    service.runner.catch_up()
    assert service.erasures.find(tenant_id, UUID(erasure_id))["status"] == "executed"
    assert service.erasures.run_due() == []


def test_two_erasures_racing_on_one_contact_record_one_erasure(service: Service) -> None:
    tenant_id, contact_id = new_contact(service)
    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def erase() -> None:
        start.wait()
        try:
            outcomes.append(
                service.erasures.erase(tenant_id, contact_id, "po", "asked", None).value
            )
        except SubjectErased as gone:
            outcomes.append(gone)

    threads = [threading.Thread(target=erase) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    certificates = [o for o in outcomes if isinstance(o, ErasureCertificate)]
    assert certificates and all(isinstance(o, ErasureCertificate | SubjectErased) for o in outcomes)
    assert len({c.erasure_id for c in certificates}) == 1
    assert_recorded(service, contact_id, certificates[0])
    assert stored_types(service, contact_id).count(Contact.Erased.__qualname__) == 1


def test_a_write_that_needs_no_key_is_refused_once_the_key_is_destroyed(
    service: Service,
) -> None:
    """Between the key's destruction and the erasure's record, the keystore's fence already
    answers: a write that seals nothing (a cleared field, a bare activity) is refused too."""
    tenant_id, contact_id = new_contact(service)
    service.keystore.destroy(tenant_id, contact_id, str(uuid.uuid4()))
    with pytest.raises(SubjectErased):
        service.contacts.update(tenant_id, contact_id, "agent", {"email": None}, None)
    with pytest.raises(SubjectErased):
        service.service_data.record_activity(
            tenant_id, contact_id, "agent", kind="page_view", occurred_at=None, details={}
        )


def test_a_key_brought_back_by_a_keystore_restore_is_destroyed_again_by_the_sweep(
    service: Service,
) -> None:
    tenant_id, contact_id = new_contact(service)
    with service.keystore_db.transaction(write=False) as cur:
        backup = cur.execute(
            "SELECT wrapped_key, kek_id FROM subject_keys WHERE subject_id = :s",
            {"s": str(contact_id)},
        ).fetchone()
    service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None)
    service.runner.catch_up()
    with service.keystore_db.transaction() as cur:  # the row as a pre-erasure backup holds it
        cur.execute(
            "UPDATE subject_keys SET wrapped_key = :w, kek_id = :k, destroyed_at = NULL,"
            " wrapped_under = NULL, erasure_id = NULL, recorded_at = NULL WHERE subject_id = :s",
            {"w": backup["wrapped_key"], "k": backup["kek_id"], "s": str(contact_id)},
        )
    service.keystore.cache.evict(contact_id)
    assert service.keystore.key_for_opening(tenant_id, contact_id)  # the key is back

    service.erasures.run_due()

    with pytest.raises(KeyDestroyed):
        service.keystore.key_for_opening(tenant_id, contact_id)
    assert service.erasures.refence() == 0  # and the counts agree again
