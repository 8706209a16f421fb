"""Data-subject requests: access, rectification, erasure (obligation 4).

UU 27/2022 (PDP) gives the controller 3x24 hours to act on a request, so each carries a
deadline from the moment it was received, and one still open after it is overdue. A
request moves open -> in_progress -> done, or is rejected (with a reason) before it is
done. A parent or guardian acts for a minor (obligation 5): their request states that the
subject is a minor, and an erasure they ask for is carried out like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.errors import InvalidField, TransitionNotAllowed
from domain.values import clean_text, utc_text

RESPONSE_TIME = timedelta(hours=72)


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"


class Requester(StrEnum):
    SUBJECT = "subject"
    GUARDIAN = "guardian"
    OPERATOR = "operator"


class RequestStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"


OPEN_STATUSES = (RequestStatus.OPEN, RequestStatus.IN_PROGRESS)


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise InvalidField(field, "must be one of " + ", ".join(k.value for k in kind)) from None


class SubjectRequest(ContactMatter):
    """One request about one contact, with its deadline."""

    class Received(ContactMatter.Created):
        kind: str
        requested_by: str
        subject_is_minor: bool
        received_at: str
        due_at: str

    class Started(ContactMatter.Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SubjectRequest)
            aggregate.status = RequestStatus.IN_PROGRESS

    class Completed(ContactMatter.Event):
        erasure_id: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SubjectRequest)
            aggregate.status = RequestStatus.DONE
            aggregate.erasure_id = self.erasure_id

    class Rejected(ContactMatter.Event):
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SubjectRequest)
            aggregate.status = RequestStatus.REJECTED

    def __init__(
        self,
        tenant_id: str,
        actor: str,
        contact_id: str,
        kind: str,
        requested_by: str,
        subject_is_minor: bool,
        received_at: str,
        due_at: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.contact_id = UUID(contact_id)
        self.kind = RequestKind(kind)
        self.requested_by = Requester(requested_by)
        self.subject_is_minor = subject_is_minor
        self.received_at = datetime.fromisoformat(received_at)
        self.due_at = datetime.fromisoformat(due_at)
        self.status = RequestStatus.OPEN
        self.erasure_id: str | None = None

    @classmethod
    def receive(
        cls,
        *,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        kind: str,
        requested_by: str,
        subject_is_minor: bool,
        now: datetime,
        request_id: UUID | None = None,
    ) -> SubjectRequest:
        """Receive a request now; it is due 72 hours later."""
        checked_kind = _choice(RequestKind, kind, "kind")
        requester = _choice(Requester, requested_by, "requested_by")
        if requester is Requester.GUARDIAN and not subject_is_minor:
            raise InvalidField(
                "subject_is_minor", "a parent or guardian acts only for a minor: state it"
            )
        return cls._create(
            cls.Received,
            id=request_id or uuid4(),
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
            kind=checked_kind.value,
            requested_by=requester.value,
            subject_is_minor=subject_is_minor,
            received_at=utc_text(now),
            due_at=utc_text(now + RESPONSE_TIME),
        )

    def start(self, *, actor: str) -> None:
        self._require(RequestStatus.OPEN, step="started")
        self.trigger_event(self.Started, **self._common(actor))

    def complete(self, *, actor: str, erasure_id: str | None = None) -> None:
        """Done. An erasure request is done only with the erasure that carried it out."""
        self._require(RequestStatus.IN_PROGRESS, step="completed")
        if self.kind is RequestKind.ERASURE and erasure_id is None:
            raise InvalidField("erasure_id", "an erasure request completes with its erasure")
        self.trigger_event(self.Completed, **self._common(actor), erasure_id=erasure_id)

    def reject(self, *, actor: str, reason: str) -> None:
        """Refuse the request, with a reason the subject can be told (never personal data)."""
        self._require(*OPEN_STATUSES, step="rejected")
        reason = clean_text(reason, "reason", max_length=500, required=True)
        self.trigger_event(self.Rejected, **self._common(actor), reason=reason)

    def check_can_complete(self) -> None:
        """Raise now, before any side effect, if completing would be refused."""
        self._require(RequestStatus.IN_PROGRESS, step="completed")

    def is_overdue(self, now: datetime) -> bool:
        return self.status in OPEN_STATUSES and now > self.due_at

    def _require(self, *allowed: RequestStatus, step: str) -> None:
        if self.status not in allowed:
            raise TransitionNotAllowed("request", step, self.status.value)

    def _common(self, actor: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "actor": actor, "contact_id": str(self.contact_id)}
