"""Data-subject requests in memory: deadlines, transitions, guardians of minors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.errors import IdentityNotVerified, InvalidField, TransitionNotAllowed
from domain.request import RequestStatus, SubjectRequest

TENANT = uuid.uuid4()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


SEALER = SubjectSealer(InMemoryKeystore())


def receive(
    kind: str = "access",
    requested_by: str = "subject",
    minor: bool = False,
    *,
    verified: bool = True,
    purposes: list[str] | None = None,
    changes: dict[str, object] | None = None,
) -> SubjectRequest:
    request = SubjectRequest.receive(
        tenant_id=TENANT,
        contact_id=uuid.uuid4(),
        actor="po",
        kind=kind,
        requested_by=requested_by,
        subject_is_minor=minor,
        now=NOW,
        purposes=purposes,
        changes=changes,
        sealer=SEALER,
    )
    if verified:
        request.verify(actor="po", method="document", note="KTP checked", sealer=SEALER)
    return request


def test_request_is_due_72_hours_after_receipt() -> None:
    request = receive()
    assert request.received_at == NOW
    assert request.due_at == NOW + timedelta(hours=72)
    assert request.status is RequestStatus.OPEN


def test_open_request_is_overdue_only_after_its_deadline() -> None:
    request = receive()
    assert not request.is_overdue(NOW + timedelta(hours=72))
    assert request.is_overdue(NOW + timedelta(hours=72, seconds=1))
    request.start(actor="po")
    assert request.is_overdue(NOW + timedelta(hours=73))
    request.complete(actor="po")
    assert not request.is_overdue(NOW + timedelta(hours=73))


def test_request_moves_open_in_progress_done() -> None:
    request = receive()
    with pytest.raises(TransitionNotAllowed):
        request.complete(actor="po")
    request.start(actor="po")
    with pytest.raises(TransitionNotAllowed):
        request.start(actor="po")
    request.complete(actor="po")
    assert request.status is RequestStatus.DONE
    with pytest.raises(TransitionNotAllowed):
        request.reject(actor="po", reason="too late")


def test_rejection_needs_a_reason_and_closes_the_request() -> None:
    request = receive()
    with pytest.raises(InvalidField):
        request.reject(actor="po", reason=" ")
    request.reject(actor="po", reason="identity not verified")
    assert request.status is RequestStatus.REJECTED
    with pytest.raises(TransitionNotAllowed):
        request.start(actor="po")


def test_erasure_request_completes_only_with_its_erasure() -> None:
    request = receive(kind="erasure")
    request.start(actor="po")
    with pytest.raises(InvalidField):
        request.complete(actor="po")
    request.complete(actor="po", erasure_id="e-1")
    assert request.erasure_id == "e-1"


def test_guardian_acts_only_for_a_minor() -> None:
    with pytest.raises(InvalidField) as error:
        receive(kind="erasure", requested_by="guardian")
    assert error.value.field == "subject_is_minor"
    request = receive(kind="erasure", requested_by="guardian", minor=True)
    assert request.subject_is_minor


@pytest.mark.parametrize(
    ("kind", "by", "field"), [("delete", "subject", "kind"), ("access", "lawyer", "requested_by")]
)
def test_unknown_kind_or_requester_is_invalid(kind: str, by: str, field: str) -> None:
    with pytest.raises(InvalidField) as error:
        receive(kind=kind, requested_by=by)
    assert error.value.field == field


def test_a_request_completes_only_once_the_identity_was_verified() -> None:
    request = receive(verified=False)
    request.start(actor="po")
    with pytest.raises(IdentityNotVerified):
        request.complete(actor="po")
    request.verify(actor="po", method="otp", note=None, sealer=SEALER)
    request.complete(actor="po")
    assert request.status is RequestStatus.DONE


def test_a_verification_names_a_known_method_and_seals_its_note() -> None:
    request = receive(verified=False)
    with pytest.raises(InvalidField):
        request.verify(actor="po", method="telepathy", note=None, sealer=SEALER)
    request.verify(actor="po", method="in_person", note="KTP 3201", sealer=SEALER)
    [verified] = [e for e in request.collect_events() if type(e).__name__ == "IdentityVerified"]
    assert "3201" not in str(vars(verified)) and set(verified.sealed) == {"note"}


def test_completing_and_rejecting_record_the_notice_owed_to_the_subject() -> None:
    done, refused = receive("restriction"), receive("objection")
    done.start(actor="po")
    done.complete(actor="po")
    refused.reject(actor="po", reason="identity unclear")
    notices = [
        (e.content, e.channel)
        for r in (done, refused)
        for e in r.collect_events()
        if type(e).__name__ == "Noticed"
    ]
    assert notices == [
        ("restriction-done", "subject_contact"),
        ("objection-rejected", "subject_contact"),
    ]


def test_restriction_and_objection_are_recorded_when_their_requests_complete() -> None:
    restriction = receive("restriction", purposes=["marketing"])
    objection = receive("objection")
    for request in (restriction, objection):
        request.start(actor="po")
        request.complete(actor="po")
    names = {type(e).__name__: e for r in (restriction, objection) for e in r.collect_events()}
    assert names["Restricted"].purposes == ["marketing"]
    assert names["Objected"].purposes == ["service_improvement", "marketing", "training_data"]


@pytest.mark.parametrize(
    ("kind", "purposes"),
    [
        ("access", ["marketing"]),  # only restriction, withdrawal, objection name purposes
        ("withdrawal", ["billing"]),  # billing rests on the contract, not on consent
        ("objection", ["billing"]),  # no automated decision to object to
        ("restriction", ["storage"]),  # not a purpose of the policy
        ("restriction", []),
    ],
)
def test_purposes_are_checked_against_the_kind(kind: str, purposes: list[str]) -> None:
    with pytest.raises(InvalidField):
        receive(kind, purposes=purposes)


def test_a_rectification_carries_its_corrections_sealed() -> None:
    request = receive("rectification", changes={"email": "benar@contoh.id", "company": None})
    assert set(request.changes_sealed) == {"email"} and request.cleared == ["company"]
    assert "benar@contoh.id" not in str(request.changes_sealed)
    with pytest.raises(InvalidField):
        receive("access", changes={"email": "benar@contoh.id"})
