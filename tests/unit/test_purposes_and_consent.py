"""The purpose catalogue, consent decisions and policy versions, in memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.consent import ConsentRecord, require_consent
from domain.errors import ConsentRequired, InvalidField, PolicyVersionExists
from domain.policy import PrivacyPolicy, resolve_version
from domain.purposes import CATALOGUE, LegalBasis, consent_purpose, purpose
from domain.sealing import field_label
from tests.witness import WITNESS

TENANT = uuid.uuid4()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
REQUIRED_CODES = {
    "support",
    "service_improvement",
    "billing",
    "follow_up",
    "marketing",
    "account_management",
    "community",
    "third_party_linking",
    "training_data",
    "legal",
    "promotional_logo_use",
    "third_party_sharing",
}


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


def new_record(contact_id: uuid.UUID | None = None) -> ConsentRecord:
    return ConsentRecord.open(tenant_id=TENANT, contact_id=contact_id or uuid.uuid4(), actor="a")


def test_catalogue_names_every_use_in_the_policy_with_unique_codes() -> None:
    codes = [p.code for p in CATALOGUE]
    assert set(codes) >= REQUIRED_CODES
    assert len(codes) == len(set(codes))


def test_design_lists_exactly_the_purposes_that_need_consent() -> None:
    needing = {p.code for p in CATALOGUE if p.requires_consent}
    assert needing == {
        "marketing",
        "training_data",
        "promotional_logo_use",
        "third_party_linking",
        "third_party_sharing",
    }
    assert purpose("legal").legal_basis is LegalBasis.LEGAL_OBLIGATION


def test_unknown_purpose_and_consent_for_a_contract_purpose_are_invalid() -> None:
    with pytest.raises(InvalidField) as unknown:
        purpose("selling_lists")
    assert unknown.value.field == "purpose"
    with pytest.raises(InvalidField, match="rests on contract"):
        consent_purpose("billing")


def test_latest_decision_per_purpose_is_the_current_one(sealer: SubjectSealer) -> None:
    record = new_record()
    record.decide(
        purpose="marketing",
        granted=True,
        actor="a",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    assert record.is_current("marketing")
    record.decide(
        purpose="marketing",
        granted=False,
        actor="b",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    assert not record.is_current("marketing")
    assert record.decisions["marketing"].actor == "b"
    assert record.version == 3


def test_processing_without_current_consent_is_refused_and_names_the_purpose(
    sealer: SubjectSealer,
) -> None:
    with pytest.raises(ConsentRequired) as missing:
        require_consent(None, "marketing")
    assert missing.value.purpose == "marketing"
    record = new_record()
    record.decide(
        purpose="training_data",
        granted=True,
        actor="a",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    with pytest.raises(ConsentRequired):
        require_consent(record, "marketing")
    require_consent(record, "training_data")


def test_consent_source_is_sealed_and_bound_to_the_record(sealer: SubjectSealer) -> None:
    contact_id = uuid.uuid4()
    sealer.seal_fields(TENANT, contact_id, 1, {"full_name": "Sari"})  # the contact's key
    record = new_record(contact_id)
    record.decide(
        purpose="marketing",
        granted=True,
        actor="a",
        policy_version="2026-01",
        source="formulir web Sari Wulandari",
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    event = record.collect_events()[-1]
    assert "Sari" not in repr(vars(event))
    token = event.sealed["source"]  # type: ignore[attr-defined]
    label = field_label(contact_id, record.id, "source")
    opened = sealer.open_fields(TENANT, contact_id, {label: (2, token)}, WITNESS)
    assert opened == {label: "formulir web Sari Wulandari"}
    with pytest.raises(Exception, match="authentication"):
        sealer.open_fields(TENANT, contact_id, {"source": (2, token)}, WITNESS)


def test_record_id_is_derived_from_tenant_and_contact() -> None:
    contact_id = uuid.uuid4()
    assert ConsentRecord.id_for(TENANT, contact_id) == new_record(contact_id).id
    assert ConsentRecord.id_for(uuid.uuid4(), contact_id) != ConsentRecord.id_for(
        TENANT, contact_id
    )


def test_policy_version_is_published_once() -> None:
    policy = PrivacyPolicy.adopt(tenant_id=TENANT, actor="admin")
    policy.publish(version="2026-01-01", actor="admin", effective_at=NOW)
    with pytest.raises(PolicyVersionExists):
        policy.publish(version="2026-01-01", actor="admin", effective_at=NOW)


def test_version_in_force_is_the_latest_effective_one() -> None:
    policy = PrivacyPolicy.adopt(tenant_id=TENANT, actor="admin")
    policy.publish(version="v1", actor="admin", effective_at=NOW - timedelta(days=30))
    policy.publish(version="v2", actor="admin", effective_at=NOW + timedelta(days=1))
    assert policy.current(NOW).version == "v1"  # type: ignore[union-attr]
    assert policy.current(NOW + timedelta(days=2)).version == "v2"  # type: ignore[union-attr]
    assert policy.current(NOW - timedelta(days=31)) is None


def test_consent_names_a_published_version_or_gets_the_one_in_force() -> None:
    assert resolve_version(None, None, NOW, "policy_version") is None
    with pytest.raises(InvalidField):
        resolve_version(None, "v9", NOW, "policy_version")
    policy = PrivacyPolicy.adopt(tenant_id=TENANT, actor="admin")
    policy.publish(version="v1", actor="admin", effective_at=NOW)
    assert resolve_version(policy, None, NOW, "policy_version") == "v1"
    with pytest.raises(InvalidField) as unpublished:
        resolve_version(policy, "v2", NOW, "policy_version")
    assert unpublished.value.field == "policy_version"


@pytest.mark.parametrize(
    ("field", "value"),
    [("document_sha256", "XYZ"), ("document_url", "ftp://x"), ("version", " ")],
)
def test_bad_policy_metadata_is_refused(field: str, value: str) -> None:
    policy = PrivacyPolicy.adopt(tenant_id=TENANT, actor="admin")
    args: dict[str, str] = {"version": "v1", field: value}
    with pytest.raises(InvalidField) as error:
        policy.publish(actor="admin", effective_at=NOW, **args)  # type: ignore[arg-type]
    assert error.value.field == field
