"""The consent record of one subject: every grant, withdrawal and policy acceptance.

One record per contact, with an id derived from the contact's, so the first decision creates
it and concurrent first decisions collide (one wins, the other is a 409). Where a decision
came from (``source``) is free text a person typed: it is sealed with the subject's key.

A child (under 18, UU PDP Pasal 25; the policy accepts no one under 13) does not consent
alone: a grant for them is given by a parent or guardian (``given_by: guardian``), whose
name and relationship to the child are personal data, sealed under the child's key like the
source. Who decided (``given_by``) is a code, kept in clear for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.errors import ConsentRequired, GuardianConsentRequired, InvalidField
from domain.purposes import consent_purpose
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import AGE_OF_MAJORITY, clean_text

_RECORD_IDS = UUID("6f1b2c1e-5d0a-4c3e-9d2b-0c7a8e4f1a10")
# The sealed fields naming the parent or guardian who decided for a child.
GUARDIAN_FIELDS = ("guardian_name", "guardian_relationship")
# How the subject's age is learnt, asked only when a decision depends on it (opening it is
# processing, recorded as such); ``None`` when the contact's record holds no age.
AgeLookup = Callable[[], int | None]


class GivenBy(StrEnum):
    """Who gave a decision: the subject, or a parent or guardian acting for them."""

    SUBJECT = "subject"
    GUARDIAN = "guardian"


class Relationship(StrEnum):
    """Who may consent for a child under Pasal 25: a parent (orang tua) or a guardian (wali)."""

    PARENT = "parent"
    GUARDIAN = "guardian"


@dataclass(frozen=True)
class Guardian:
    """The parent or guardian who decided for the subject, as the caller gave them."""

    full_name: str
    relationship: str

    def values(self) -> dict[str, PersonalValue]:
        """Validated, as sealed in the decision."""
        if self.relationship not in {r.value for r in Relationship}:
            raise InvalidField("guardian.relationship", "must be parent or guardian")
        name = clean_text(self.full_name, "guardian.full_name", max_length=200, required=True)
        return {"guardian_name": name, "guardian_relationship": self.relationship}


@dataclass(frozen=True)
class Decision:
    """The latest decision for one purpose: given or not, when, by whom, under which policy."""

    purpose: str
    granted: bool
    policy_version: str | None
    at: datetime
    actor: str
    version: int
    given_by: GivenBy


@dataclass(frozen=True)
class Acceptance:
    """The subject accepted a version of the privacy policy (obligation 7)."""

    policy_version: str
    at: datetime
    actor: str
    version: int


def _source(source: str | None) -> dict[str, PersonalValue]:
    if source is None:
        return {}
    return {"source": clean_text(source, "source", max_length=200, required=True)}


def _sealed(
    values: dict[str, PersonalValue], sealer: Sealer, record: ConsentRecord
) -> dict[str, str]:
    return seal_event_fields(
        sealer, UUID(record.tenant_id), record.contact_id, record.id, record.version + 1, values
    )


def check_given_by(given_by: str, guardian: Guardian | None) -> GivenBy:
    """Who decides, checked against the guardian named: one exactly when the other says so."""
    try:
        by = GivenBy(given_by)
    except ValueError:
        raise InvalidField("given_by", "must be subject or guardian") from None
    if by is GivenBy.GUARDIAN and guardian is None:
        raise InvalidField("guardian", "is required when given_by is guardian")
    if by is GivenBy.SUBJECT and guardian is not None:
        raise InvalidField("guardian", "is given only with given_by: guardian")
    return by


def require_guardian_for_child(
    purpose: str, granted: bool, given_by: GivenBy, subject_age: AgeLookup | None
) -> None:
    """Refuse a child's own grant (Pasal 25): only a grant the subject gives alone depends on
    the age, so only then is it asked for. A withdrawal never needs a guardian, and a
    contact without a recorded age is taken as an adult; a caller that gave no way to learn
    the age cannot record such a grant at all."""
    if not granted or given_by is GivenBy.GUARDIAN:
        return
    if subject_age is None:
        raise TypeError("a grant the subject gives needs subject_age to apply Pasal 25")
    age = subject_age()
    if age is not None and age < AGE_OF_MAJORITY:
        raise GuardianConsentRequired(purpose)


class ConsentRecord(ContactMatter):
    """The consents of one contact. ``decisions`` holds the latest decision per purpose."""

    class Opened(ContactMatter.Created):
        pass

    class Decided(ContactMatter.Event):
        """Base of grants and withdrawals: a decision about one purpose. Version 2 added
        ``given_by``; every decision stored before it was the subject's own."""

        purpose: str
        policy_version: str | None
        sealed: dict[str, str]
        given_by: str

        granted = True
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["given_by"] = GivenBy.SUBJECT.value

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ConsentRecord)
            aggregate.decisions[self.purpose] = Decision(
                self.purpose,
                self.granted,
                self.policy_version,
                self.timestamp,
                self.actor,
                self.originator_version,
                GivenBy(self.given_by),
            )

    class Granted(Decided):
        granted = True

    class Withdrawn(Decided):
        granted = False

    class PolicyAccepted(ContactMatter.Event):
        policy_version: str
        sealed: dict[str, str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ConsentRecord)
            aggregate.acceptances.append(
                Acceptance(self.policy_version, self.timestamp, self.actor, self.originator_version)
            )

    def __init__(self, tenant_id: str, actor: str, contact_id: str) -> None:
        self.tenant_id = tenant_id
        self.contact_id = UUID(contact_id)
        self.decisions: dict[str, Decision] = {}
        self.acceptances: list[Acceptance] = []

    @staticmethod
    def id_for(tenant_id: UUID, contact_id: UUID) -> UUID:
        """The record's id: one record per contact, found without a lookup table."""
        return uuid5(_RECORD_IDS, f"{tenant_id}/{contact_id}")

    @classmethod
    def open(cls, *, tenant_id: UUID, contact_id: UUID, actor: str) -> ConsentRecord:
        return cls._create(
            cls.Opened,
            id=cls.id_for(tenant_id, contact_id),
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
        )

    def decide(
        self,
        *,
        purpose: str,
        granted: bool,
        actor: str,
        policy_version: str | None,
        source: str | None,
        sealer: Sealer,
        subject_age: AgeLookup | None = None,
        given_by: str = GivenBy.SUBJECT,
        guardian: Guardian | None = None,
    ) -> Decision:
        """Record a grant or a withdrawal. Withdrawing what was never granted records a refusal.

        A child's grant must be given by a parent or guardian (``given_by`` and ``guardian``);
        ``subject_age`` is asked only for a grant the subject gives, after the input checks,
        so nothing is opened for a decision that does not depend on it (a withdrawal may
        leave it out).
        """
        code = consent_purpose(purpose).code
        by = check_given_by(given_by, guardian)
        values = {**_source(source), **(guardian.values() if guardian is not None else {})}
        require_guardian_for_child(code, granted, by, subject_age)
        self.trigger_event(
            self.Granted if granted else self.Withdrawn,
            tenant_id=self.tenant_id,
            actor=actor,
            contact_id=str(self.contact_id),
            purpose=code,
            policy_version=policy_version,
            sealed=_sealed(values, sealer, self),
            given_by=by.value,
        )
        return self.decisions[code]

    def accept_policy(
        self, *, policy_version: str, actor: str, source: str | None, sealer: Sealer
    ) -> Acceptance:
        """Record that the subject accepted a (published) version of the privacy policy."""
        self.trigger_event(
            self.PolicyAccepted,
            tenant_id=self.tenant_id,
            actor=actor,
            contact_id=str(self.contact_id),
            policy_version=policy_version,
            sealed=_sealed(_source(source), sealer, self),
        )
        return self.acceptances[-1]

    def is_current(self, purpose: str) -> bool:
        """True while the latest decision for ``purpose`` is a grant."""
        decision = self.decisions.get(purpose)
        return decision is not None and decision.granted


def require_consent(record: ConsentRecord | None, purpose: str) -> None:
    """Refuse processing that rests on consent unless the subject's consent is current."""
    if record is None or not record.is_current(purpose):
        raise ConsentRequired(purpose)
