"""The contact aggregate's rules, in memory."""

from __future__ import annotations

import uuid

import pytest

from crypto.errors import KeyDestroyed
from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.contact import Contact
from domain.errors import InvalidField, MinorNotAllowed, SubjectErased, VersionMismatch
from tests.witness import WITNESS

TENANT = uuid.uuid4()


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


def register(sealer: SubjectSealer, **details: object) -> Contact:
    details.setdefault("full_name", "Dewi Lestari")
    return Contact.register(tenant_id=TENANT, actor="agent-1", details=details, sealer=sealer)


def test_registered_event_holds_no_plaintext(sealer: SubjectSealer) -> None:
    contact = register(sealer, email="dewi@example.id", phone="0812 1111 2222", age=31)
    event = contact.collect_events()[0]
    assert "Dewi" not in repr(vars(event))
    assert "dewi@example.id" not in repr(vars(event))
    assert sealer.open_fields(TENANT, contact.id, contact.fields, WITNESS) == {
        "full_name": "Dewi Lestari",
        "email": "dewi@example.id",
        "phone": "+6281211112222",
        "age": 31,
    }


def test_contact_under_13_is_refused(sealer: SubjectSealer) -> None:
    with pytest.raises(MinorNotAllowed):
        register(sealer, age=12)


def test_name_is_required_and_cannot_be_cleared(sealer: SubjectSealer) -> None:
    with pytest.raises(InvalidField) as missing:
        Contact.register(tenant_id=TENANT, actor="a", details={"email": "a@b.id"}, sealer=sealer)
    assert missing.value.field == "full_name"
    contact = register(sealer)
    with pytest.raises(InvalidField):
        contact.update(actor="a", changes={"full_name": None}, sealer=sealer)


def test_invalid_email_error_does_not_quote_the_value(sealer: SubjectSealer) -> None:
    with pytest.raises(InvalidField) as error:
        register(sealer, email="not-an-address-secretvalue")
    assert "secretvalue" not in str(error.value)


def test_update_seals_under_the_new_version_and_clears(sealer: SubjectSealer) -> None:
    contact = register(sealer, company="PT Maju")
    contact.update(actor="a", changes={"job_title": "CTO", "company": None}, sealer=sealer)
    assert contact.version == 2
    opened = sealer.open_fields(TENANT, contact.id, contact.fields, WITNESS)
    assert opened == {"full_name": "Dewi Lestari", "job_title": "CTO"}
    assert contact.fields["job_title"][0] == 2


def test_stale_expected_version_is_refused(sealer: SubjectSealer) -> None:
    contact = register(sealer)
    contact.update(actor="a", changes={"company": "X"}, sealer=sealer)
    with pytest.raises(VersionMismatch):
        contact.update(actor="a", changes={"company": "Y"}, sealer=sealer, expected_version=1)


def test_erased_contact_takes_no_more_commands(sealer: SubjectSealer) -> None:
    contact = register(sealer)
    contact.record_erasure(
        actor="po",
        erasure_id=uuid.uuid4(),
        key_id="k",
        destroyed_at="t",
        reason="asked",
        request_id=None,
    )
    assert contact.erased and contact.fields == {}
    with pytest.raises(SubjectErased):
        contact.update(actor="a", changes={"company": "X"}, sealer=sealer)
    with pytest.raises(SubjectErased):
        contact.record_erasure(
            actor="po",
            erasure_id=uuid.uuid4(),
            key_id="k",
            destroyed_at="t",
            reason="again",
            request_id=None,
        )


def test_destroyed_key_cannot_be_recreated_for_the_subject() -> None:
    keystore = InMemoryKeystore()
    sealer = SubjectSealer(keystore)
    contact = register(sealer)
    keystore.destroy(TENANT, contact.id, "erasure-1")
    with pytest.raises(KeyDestroyed):
        sealer.open_fields(TENANT, contact.id, contact.fields, WITNESS)
    with pytest.raises(KeyDestroyed):
        contact.update(actor="a", changes={"company": "X"}, sealer=sealer)


def test_rectifying_age_to_under_13_is_refused_and_changes_nothing(sealer: SubjectSealer) -> None:
    contact = register(sealer)  # recorded without an age
    with pytest.raises(MinorNotAllowed) as refused:
        contact.update(actor="a", changes={"age": 12}, sealer=sealer)
    assert refused.value.field == "age"
    assert contact.version == 1 and "age" not in contact.fields
