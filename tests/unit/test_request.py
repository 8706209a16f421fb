"""Data-subject requests in memory: deadlines, transitions, guardians of minors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidField, TransitionNotAllowed
from domain.request import RequestStatus, SubjectRequest

TENANT = uuid.uuid4()
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def receive(
    kind: str = "access", requested_by: str = "subject", minor: bool = False
) -> SubjectRequest:
    return SubjectRequest.receive(
        tenant_id=TENANT,
        contact_id=uuid.uuid4(),
        actor="po",
        kind=kind,
        requested_by=requested_by,
        subject_is_minor=minor,
        now=NOW,
    )


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
