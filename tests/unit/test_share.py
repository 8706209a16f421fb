"""The data-share procedure's state machine, in memory: order, expiry and consent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.consent import ConsentRecord
from domain.errors import (
    AuthorisationExpired,
    ConsentRequired,
    InvalidField,
    TransitionNotAllowed,
)
from domain.share import DataShare, ShareStatus

TENANT = uuid.uuid4()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VALUES = {"full_name": "Sri Mulyani", "email": "sri@contoh.id"}


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


def new_share(purpose: str = "support", fields: list[str] | None = None) -> DataShare:
    return DataShare.request(
        tenant_id=TENANT,
        contact_id=uuid.uuid4(),
        actor="agent",
        recipient="PT Kurir Cepat",
        purpose=purpose,
        fields=fields or ["email", "full_name"],
    )


def consents(share: DataShare, sealer: SubjectSealer, *purposes: str) -> ConsentRecord:
    record = ConsentRecord.open(tenant_id=TENANT, contact_id=share.contact_id, actor="a")
    for code in purposes:
        record.decide(
            purpose=code,
            granted=True,
            actor="a",
            policy_version=None,
            source=None,
            sealer=sealer,
            subject_age=lambda: None,  # no age recorded: an adult
        )
    return record


def authorized(expires_at: datetime | None = None, purpose: str = "support") -> DataShare:
    share = new_share(purpose)
    share.approve(actor="pic")
    share.authorize(actor="admin", agreement_ref="PKS-2026/07", expires_at=expires_at, now=NOW)
    return share


def test_share_goes_through_every_step_in_order(sealer: SubjectSealer) -> None:
    share = authorized()
    shared = share.execute(
        actor="agent",
        values=VALUES,
        consents=consents(share, sealer, "third_party_sharing"),
        sealer=sealer,
        now=NOW,
    )
    assert shared == VALUES
    assert share.status is ShareStatus.EXECUTED
    executed = share.collect_events()[-1]
    assert "Sri" not in repr(vars(executed)) and "sri@" not in repr(vars(executed))
    share.revoke(actor="pic", reason=None)
    assert share.status is ShareStatus.REVOKED


def test_share_cannot_be_authorized_before_pic_approval() -> None:
    share = new_share()
    with pytest.raises(TransitionNotAllowed):
        share.authorize(actor="admin", agreement_ref="PKS-1", expires_at=None, now=NOW)
    assert share.version == 1


def test_share_cannot_execute_before_pic_approval(sealer: SubjectSealer) -> None:
    share = new_share()
    record = consents(share, sealer, "third_party_sharing")
    with pytest.raises(TransitionNotAllowed):
        share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    share.approve(actor="pic")
    with pytest.raises(TransitionNotAllowed):  # approved, not yet authorised
        share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    assert share.status is ShareStatus.APPROVED


def test_share_is_approved_once_and_executed_once(sealer: SubjectSealer) -> None:
    share = authorized()
    with pytest.raises(TransitionNotAllowed):
        share.approve(actor="pic")
    record = consents(share, sealer, "third_party_sharing")
    share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    with pytest.raises(TransitionNotAllowed):
        share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)


def test_expired_authorisation_blocks_the_share(sealer: SubjectSealer) -> None:
    share = authorized(expires_at=NOW + timedelta(hours=1))
    record = consents(share, sealer, "third_party_sharing")
    with pytest.raises(AuthorisationExpired):
        share.execute(
            actor="a",
            values=VALUES,
            consents=record,
            sealer=sealer,
            now=NOW + timedelta(hours=1),
        )
    assert share.status is ShareStatus.AUTHORIZED
    share.authorize(
        actor="admin",
        agreement_ref="PKS-2",
        expires_at=NOW + timedelta(days=30),
        now=NOW + timedelta(hours=2),
    )
    share.execute(
        actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW + timedelta(hours=2)
    )
    assert share.status is ShareStatus.EXECUTED


def test_authorisation_that_already_expired_is_invalid() -> None:
    share = new_share()
    share.approve(actor="pic")
    with pytest.raises(InvalidField) as error:
        share.authorize(actor="admin", agreement_ref="PKS", expires_at=NOW, now=NOW)
    assert error.value.field == "expires_at"


def test_share_without_sharing_consent_is_refused(sealer: SubjectSealer) -> None:
    share = authorized()
    with pytest.raises(ConsentRequired) as missing:
        share.execute(actor="a", values=VALUES, consents=None, sealer=sealer, now=NOW)
    assert missing.value.purpose == "third_party_sharing"
    withdrawn = consents(share, sealer, "third_party_sharing")
    withdrawn.decide(
        purpose="third_party_sharing",
        granted=False,
        actor="a",
        policy_version=None,
        source=None,
        sealer=sealer,
        subject_age=lambda: None,  # no age recorded: an adult
    )
    with pytest.raises(ConsentRequired):
        share.execute(actor="a", values=VALUES, consents=withdrawn, sealer=sealer, now=NOW)
    assert share.status is ShareStatus.AUTHORIZED


def test_share_for_a_consent_purpose_needs_that_consent_too(sealer: SubjectSealer) -> None:
    share = authorized(purpose="marketing")
    record = consents(share, sealer, "third_party_sharing")
    with pytest.raises(ConsentRequired) as missing:
        share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    assert missing.value.purpose == "marketing"


def test_revoked_share_takes_no_further_step(sealer: SubjectSealer) -> None:
    share = authorized()
    share.revoke(actor="admin", reason="agreement ended")
    record = consents(share, sealer, "third_party_sharing")
    with pytest.raises(TransitionNotAllowed):
        share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    with pytest.raises(TransitionNotAllowed):
        share.revoke(actor="admin", reason=None)


def test_only_the_requested_fields_the_contact_holds_are_shared(sealer: SubjectSealer) -> None:
    share = new_share(fields=["email", "phone"])
    share.approve(actor="pic")
    share.authorize(actor="admin", agreement_ref="PKS", expires_at=None, now=NOW)
    record = consents(share, sealer, "third_party_sharing")
    shared = share.execute(actor="a", values=VALUES, consents=record, sealer=sealer, now=NOW)
    assert shared == {"email": "sri@contoh.id"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fields": []}, "fields"),
        ({"fields": ["password"]}, "fields"),
        ({"purpose": "reselling"}, "purpose"),
        ({"recipient": "  "}, "recipient"),
    ],
)
def test_bad_share_requests_are_invalid(changes: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "recipient": "PT X",
        "purpose": "support",
        "fields": ["email"],
        **changes,
    }
    with pytest.raises(InvalidField) as error:
        DataShare.request(tenant_id=TENANT, contact_id=uuid.uuid4(), actor="a", **args)  # type: ignore[arg-type]
    assert error.value.field == field
