"""Service data (activities) and linked third-party accounts, in memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.activity import Activity
from domain.consent import ConsentRecord
from domain.errors import ConsentRequired, InvalidField, TransitionNotAllowed
from domain.linked_account import LinkedAccount
from domain.sealing import field_label
from tests.witness import WITNESS

TENANT = uuid.uuid4()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
USAGE = {
    "ip": "203.0.113.77",
    "user_agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0",
    "device": "Samsung Galaxy A55",
    "location": "Bandung, Jawa Barat",
    "referrer": "https://cari.example/?q=toko+kopi",
    "detail": "pesan ke Pak Hendra soal pesanan",
}


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


def record(sealer: SubjectSealer, **changes: object) -> Activity:
    args: dict[str, object] = {"kind": "message_sent", "occurred_at": None, "details": USAGE}
    args.update(changes)
    return Activity.record(
        tenant_id=TENANT,
        contact_id=uuid.uuid4(),
        actor="agent",
        sealer=sealer,
        now=NOW,
        **args,  # type: ignore[arg-type]
    )


def test_activity_seals_every_personal_field(sealer: SubjectSealer) -> None:
    activity = record(sealer)
    event = activity.collect_events()[0]
    text = repr(vars(event))
    assert all(value not in text for value in USAGE.values())
    assert "message_sent" in text
    cells = {
        field_label(activity.contact_id, activity.id, f): (1, t) for f, t in activity.sealed.items()
    }
    opened = sealer.open_fields(TENANT, activity.contact_id, cells, WITNESS)
    assert sorted(opened.values()) == sorted(USAGE.values())


def test_activity_time_defaults_to_now_and_cannot_be_in_the_future(sealer: SubjectSealer) -> None:
    assert record(sealer).occurred_at == NOW
    earlier = NOW - timedelta(days=2)
    assert record(sealer, occurred_at=earlier).occurred_at == earlier
    with pytest.raises(InvalidField) as error:
        record(sealer, occurred_at=NOW + timedelta(hours=1))
    assert error.value.field == "occurred_at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "Page View"}, "kind"),
        ({"details": {"ip": "999.1.1.1"}}, "ip"),
        ({"details": {"ssn": "123"}}, "ssn"),
        ({"details": {"device": "x" * 201}}, "device"),
        ({"details": {"detail": "line\nbreak"}}, "detail"),
    ],
)
def test_bad_activities_are_invalid(
    sealer: SubjectSealer, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidField) as error:
        record(sealer, **changes)
    assert error.value.field == field


def consent_to_linking(
    contact_id: uuid.UUID, sealer: SubjectSealer, granted: bool
) -> ConsentRecord:
    consents = ConsentRecord.open(tenant_id=TENANT, contact_id=contact_id, actor="a")
    consents.decide(
        purpose="third_party_linking",
        granted=granted,
        actor="a",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    return consents


def link(
    sealer: SubjectSealer,
    consents: ConsentRecord | None,
    contact_id: uuid.UUID,
    provider: str = "whatsapp_business",
    handle: str = "0812-3456-7890",
) -> LinkedAccount:
    return LinkedAccount.link(
        tenant_id=TENANT,
        contact_id=contact_id,
        actor="agent",
        provider=provider,
        handle=handle,
        consents=consents,
        sealer=sealer,
    )


def test_linking_needs_a_current_linking_consent(sealer: SubjectSealer) -> None:
    contact_id = uuid.uuid4()
    with pytest.raises(ConsentRequired) as missing:
        link(sealer, None, contact_id)
    assert missing.value.purpose == "third_party_linking"
    with pytest.raises(ConsentRequired):
        link(sealer, consent_to_linking(contact_id, sealer, granted=False), contact_id)
    linked = link(sealer, consent_to_linking(contact_id, sealer, granted=True), contact_id)
    label = field_label(contact_id, linked.id, "handle")
    opened = sealer.open_fields(TENANT, contact_id, {label: (1, linked.sealed["handle"])}, WITNESS)
    assert opened[label] == "+6281234567890"


def test_unlinked_account_cannot_be_unlinked_again(sealer: SubjectSealer) -> None:
    contact_id = uuid.uuid4()
    linked = link(sealer, consent_to_linking(contact_id, sealer, True), contact_id)
    linked.unlink(actor="agent")
    assert not linked.linked
    with pytest.raises(TransitionNotAllowed):
        linked.unlink(actor="agent")


@pytest.mark.parametrize(
    ("provider", "handle", "field"),
    [("myspace", "x", "provider"), ("email", "not-an-email", "handle"), ("github", "", "handle")],
)
def test_bad_links_are_invalid_before_consent_is_checked(
    sealer: SubjectSealer, provider: str, handle: str, field: str
) -> None:
    with pytest.raises(InvalidField) as error:
        link(sealer, None, uuid.uuid4(), provider=provider, handle=handle)
    assert error.value.field == field
