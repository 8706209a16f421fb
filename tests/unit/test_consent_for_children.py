"""A child's consent (UU PDP Pasal 25): a grant for a subject under 18 is given by a parent
or guardian, whose name is sealed under the child's key; the age is asked only when the
decision depends on it. In memory."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.consent import ConsentRecord, GivenBy, Guardian
from domain.errors import GuardianConsentRequired, InvalidField, ProcessingRefused
from domain.sealing import field_label
from tests.witness import WITNESS

TENANT = uuid.uuid4()
MOTHER = Guardian("Ratna Kusumawardani", "parent")


class Ages:
    """An age lookup that counts how often it was asked (each ask is an opening)."""

    def __init__(self, age: int | None) -> None:
        self.age = age
        self.asked = 0

    def __call__(self) -> int | None:
        self.asked += 1
        return self.age


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


def decide(
    record: ConsentRecord, sealer: SubjectSealer, ages: Ages, granted: bool = True, **by: object
) -> None:
    record.decide(
        purpose="marketing",
        granted=granted,
        actor="agent",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=ages,
        **by,  # type: ignore[arg-type]
    )


def new_record() -> ConsentRecord:
    return ConsentRecord.open(tenant_id=TENANT, contact_id=uuid.uuid4(), actor="agent")


@pytest.mark.parametrize("age", [13, 15, 17])
def test_a_childs_own_grant_is_refused_and_records_nothing(sealer: SubjectSealer, age: int) -> None:
    record = new_record()
    with pytest.raises(GuardianConsentRequired) as refused:
        decide(record, sealer, Ages(age))
    assert isinstance(refused.value, ProcessingRefused)
    assert (refused.value.purpose, refused.value.reason) == (
        "marketing",
        "guardian-consent-required",
    )
    assert not record.is_current("marketing")
    assert len(record.collect_events()) == 1  # only the record's opening


@pytest.mark.parametrize("age", [18, 40, None])
def test_an_adult_or_a_subject_without_an_age_grants_alone(
    sealer: SubjectSealer, age: int | None
) -> None:
    record = new_record()
    ages = Ages(age)
    decide(record, sealer, ages)
    assert record.is_current("marketing")
    assert record.decisions["marketing"].given_by is GivenBy.SUBJECT
    assert ages.asked == 1


def test_a_guardians_grant_is_recorded_sealed_without_asking_the_age(
    sealer: SubjectSealer,
) -> None:
    record = new_record()
    sealer.seal_fields(TENANT, record.contact_id, 1, {"full_name": "Dimas"})  # the child's key
    ages = Ages(15)
    decide(record, sealer, ages, given_by="guardian", guardian=MOTHER)
    assert ages.asked == 0
    assert record.decisions["marketing"].given_by is GivenBy.GUARDIAN
    event = record.collect_events()[-1]
    assert "Ratna" not in repr(vars(event))
    assert vars(event)["given_by"] == "guardian"
    sealed = vars(event)["sealed"]
    label = field_label(record.contact_id, record.id, "guardian_name")
    opened = sealer.open_cells(
        TENANT,
        record.contact_id,
        [(label, event.originator_version, sealed["guardian_name"])],
        WITNESS,
    )
    assert opened == ["Ratna Kusumawardani"]


def test_a_childs_withdrawal_needs_no_guardian_and_never_asks_the_age(
    sealer: SubjectSealer,
) -> None:
    record = new_record()
    ages = Ages(14)
    decide(record, sealer, ages, granted=False)
    assert ages.asked == 0
    assert not record.is_current("marketing")


@pytest.mark.parametrize(
    ("by", "field"),
    [
        ({"given_by": "guardian"}, "guardian"),
        ({"given_by": "subject", "guardian": MOTHER}, "guardian"),
        ({"given_by": "uncle"}, "given_by"),
        ({"given_by": "guardian", "guardian": Guardian("Ratna", "aunt")}, "guardian.relationship"),
        ({"given_by": "guardian", "guardian": Guardian("  ", "parent")}, "guardian.full_name"),
    ],
)
def test_who_decided_must_match_the_guardian_named(
    sealer: SubjectSealer, by: dict[str, object], field: str
) -> None:
    record = new_record()
    ages = Ages(15)
    with pytest.raises(InvalidField) as invalid:
        decide(record, sealer, ages, **by)
    assert invalid.value.field == field
    assert ages.asked == 0  # bad input opens nothing


def test_a_grant_without_a_way_to_learn_the_age_is_never_recorded(sealer: SubjectSealer) -> None:
    record = new_record()
    with pytest.raises(TypeError):
        record.decide(
            purpose="marketing",
            granted=True,
            actor="agent",
            policy_version=None,
            source=None,
            sealer=sealer,
        )
    assert not record.is_current("marketing")


def test_decisions_stored_before_given_by_existed_read_as_the_subjects(
    sealer: SubjectSealer,
) -> None:
    record = new_record()
    decide(record, sealer, Ages(None))
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO()):
        transcoder.register(transcoding)
    mapper: Mapper[uuid.UUID] = Mapper(transcoder=transcoder)
    stored = mapper.to_stored_event(record.collect_events()[-1])
    state = transcoder.decode(stored.state)
    del state["given_by"], state["class_version"]  # as a version 1 event was stored
    old = replace(stored, state=transcoder.encode(state))
    event = mapper.to_domain_event(old)
    assert isinstance(event, ConsentRecord.Granted)
    assert event.given_by == "subject"
