"""Data-subject requests: every right of UU PDP as a kind (obligation 4).

UU 27/2022 (PDP) gives the controller 3x24 hours to act on a request, so each carries a
deadline from the moment it was received, and one still open after it is overdue. A
request moves open -> in_progress -> done, or is rejected (with a reason) before it is
done; it completes only once the requester's identity was verified, and completing or
rejecting it records the notice owed to the subject. A parent or guardian acts for a minor
(obligation 5): their request states that the subject is a minor, and what they ask for is
carried out like any other.

The kinds: information (Pasal 5, 21), rectification (6, 30: it carries the corrections),
access (7, 32), erasure (8, 42-44), withdrawal of consent (9, 40), objection to automated
decisions and profiling (10), restriction and its lifting (11, 41), portability (13).
Restriction and objection are recorded here, as events of the request that completes them;
the processing decision point reads them (``service/disclosure.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.contact import validate_changes
from domain.errors import IdentityNotVerified, InvalidField, TransitionNotAllowed
from domain.purposes import CATALOGUE
from domain.purposes import purpose as catalogue_purpose
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import clean_text, utc_text

RESPONSE_TIME = timedelta(hours=72)


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    INFORMATION = "information"
    RESTRICTION = "restriction"
    LIFT_RESTRICTION = "lift_restriction"
    WITHDRAWAL = "withdrawal"
    OBJECTION = "objection"
    PORTABILITY = "portability"


# The kinds that name purposes (omitted: every purpose they can apply to).
PURPOSE_KINDS = (RequestKind.RESTRICTION, RequestKind.WITHDRAWAL, RequestKind.OBJECTION)


class VerificationMethod(StrEnum):
    """How the requester's identity was checked before the request is carried out."""

    DOCUMENT = "document"
    OTP = "otp"
    IN_PERSON = "in_person"
    ACCOUNT = "account"


NOTICE_CHANNEL = "subject_contact"  # delivered by an integration from the relayed event


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
        purposes: list[str] | None = None
        sealed: dict[str, str] | None = None  # a rectification's corrected values
        cleared: list[str] | None = None  # a rectification's fields to clear

    class IdentityVerified(ContactMatter.Event):
        method: str
        sealed: dict[str, str]  # the note, if any: it may quote a document's number

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SubjectRequest)
            aggregate.verified = True

    class Restricted(ContactMatter.Event):
        purposes: list[str] | None  # None: every purpose

    class RestrictionLifted(ContactMatter.Event):
        pass

    class Objected(ContactMatter.Event):
        purposes: list[str]

    class Noticed(ContactMatter.Event):
        """The outcome told to the subject: relayed to Kafka, where an integration sends it."""

        channel: str
        content: str

    class Started(ContactMatter.Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SubjectRequest)
            aggregate.status = RequestStatus.IN_PROGRESS

    class Completed(ContactMatter.Event):
        erasure_id: str | None
        effects: list[str] | None = None

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
        purposes: list[str] | None = None,
        sealed: dict[str, str] | None = None,
        cleared: list[str] | None = None,
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
        self.purposes = purposes
        self.changes_sealed = dict(sealed or {})
        self.cleared = list(cleared or [])
        self.verified = False

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
        purposes: list[str] | None = None,
        changes: dict[str, object] | None = None,
        sealer: Sealer | None = None,
    ) -> SubjectRequest:
        """Receive a request now; it is due 72 hours later. A rectification carries its
        corrections (sealed under the subject's key, applied on completion)."""
        checked_kind = _choice(RequestKind, kind, "kind")
        requester = _choice(Requester, requested_by, "requested_by")
        if requester is Requester.GUARDIAN and not subject_is_minor:
            raise InvalidField(
                "subject_is_minor", "a parent or guardian acts only for a minor: state it"
            )
        named = _purposes(checked_kind, purposes)
        aggregate_id = request_id or uuid4()
        sealed, cleared = None, None
        if checked_kind is RequestKind.RECTIFICATION and changes is not None:
            if sealer is None:  # pragma: no cover - the service always passes one
                raise ValueError("a rectification's changes need a sealer")
            values, gone = validate_changes(changes)
            sealed = seal_event_fields(sealer, tenant_id, contact_id, aggregate_id, 1, values)
            cleared = sorted(gone)
        elif changes is not None:
            raise InvalidField("changes", "only a rectification carries changes")
        return cls._create(
            cls.Received,
            id=aggregate_id,
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
            kind=checked_kind.value,
            requested_by=requester.value,
            subject_is_minor=subject_is_minor,
            received_at=utc_text(now),
            due_at=utc_text(now + RESPONSE_TIME),
            purposes=named,
            sealed=sealed,
            cleared=cleared,
        )

    def verify(self, *, actor: str, method: str, note: str | None, sealer: Sealer) -> None:
        """Record how the requester's identity was checked (the note sealed under the
        subject's key); needed before the request is carried out."""
        self._require(*OPEN_STATUSES, step="verified")
        checked = _choice(VerificationMethod, method, "method")
        values: dict[str, PersonalValue] = {}
        if note is not None:
            values["note"] = clean_text(note, "note", max_length=500, required=True)
        version = self.version + 1
        sealed = seal_event_fields(
            sealer, UUID(self.tenant_id), self.contact_id, self.id, version, values
        )
        self.trigger_event(
            self.IdentityVerified, **self._common(actor), method=checked.value, sealed=sealed
        )

    def start(self, *, actor: str) -> None:
        self._require(RequestStatus.OPEN, step="started")
        self.trigger_event(self.Started, **self._common(actor))

    def complete(
        self, *, actor: str, erasure_id: str | None = None, effects: list[str] | None = None
    ) -> None:
        """Done: what the kind records itself (a restriction, its lifting, an objection),
        then the completion with the effects carried out elsewhere, then the notice. An
        erasure request is done only with the erasure that carried it out."""
        self.check_can_complete()
        if self.kind is RequestKind.ERASURE and erasure_id is None:
            raise InvalidField("erasure_id", "an erasure request completes with its erasure")
        common = self._common(actor)
        done = list(effects or [])
        if self.kind is RequestKind.RESTRICTION:
            self.trigger_event(self.Restricted, **common, purposes=self.purposes)
            done.append("restricted")
        elif self.kind is RequestKind.LIFT_RESTRICTION:
            self.trigger_event(self.RestrictionLifted, **common)
            done.append("restriction-lifted")
        elif self.kind is RequestKind.OBJECTION:
            objected = self.purposes or _objectable()
            self.trigger_event(self.Objected, **common, purposes=objected)
            done.append("objected")
        self.trigger_event(self.Completed, **common, erasure_id=erasure_id, effects=done)
        self.trigger_event(
            self.Noticed, **common, channel=NOTICE_CHANNEL, content=f"{self.kind.value}-done"
        )

    def reject(self, *, actor: str, reason: str) -> None:
        """Refuse the request, with a reason the subject can be told (never personal data),
        and record the notice telling them."""
        self._require(*OPEN_STATUSES, step="rejected")
        reason = clean_text(reason, "reason", max_length=500, required=True)
        self.trigger_event(self.Rejected, **self._common(actor), reason=reason)
        self.trigger_event(
            self.Noticed,
            **self._common(actor),
            channel=NOTICE_CHANNEL,
            content=f"{self.kind.value}-rejected",
        )

    def check_can_complete(self) -> None:
        """Raise now, before any side effect, if completing would be refused."""
        self._require(RequestStatus.IN_PROGRESS, step="completed")
        if not self.verified:
            raise IdentityNotVerified

    def is_overdue(self, now: datetime) -> bool:
        return self.status in OPEN_STATUSES and now > self.due_at

    def _require(self, *allowed: RequestStatus, step: str) -> None:
        if self.status not in allowed:
            raise TransitionNotAllowed("request", step, self.status.value)

    def _common(self, actor: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "actor": actor, "contact_id": str(self.contact_id)}


def _objectable() -> list[str]:
    """Objection with no purpose named: every purpose that rests on consent or on the
    controller's legitimate interest (a contract or a legal obligation cannot be objected
    to; Pasal 10 is about automated decisions, which those purposes would carry)."""
    return [p.code for p in CATALOGUE if not p.system and p.objectable]


def _purposes(kind: RequestKind, purposes: list[str] | None) -> list[str] | None:
    """The purposes a restriction, withdrawal or objection names, checked; other kinds name
    none. A withdrawal names purposes that rest on consent."""
    if purposes is None:
        return None
    if kind not in PURPOSE_KINDS:
        raise InvalidField("purposes", "only a restriction, withdrawal or objection names them")
    if not purposes:
        raise InvalidField("purposes", "name at least one, or leave it out for all")
    checked = []
    for code in dict.fromkeys(purposes):
        found = catalogue_purpose(code)
        if found.system:
            raise InvalidField("purposes", f"{code} is not a purpose of the policy")
        if kind is RequestKind.WITHDRAWAL and not found.requires_consent:
            raise InvalidField("purposes", f"{code} does not rest on consent")
        if kind is RequestKind.OBJECTION and not found.objectable:
            raise InvalidField("purposes", f"{code} cannot be objected to")
        checked.append(code)
    return checked
