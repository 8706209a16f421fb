"""The consent record of one subject: every grant, withdrawal and policy acceptance.

One record per contact, with an id derived from the contact's, so the first decision creates
it and concurrent first decisions collide (one wins, the other is a 409). Where a decision
came from (``source``) is free text a person typed: it is sealed with the subject's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.errors import ConsentRequired
from domain.purposes import consent_purpose
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import clean_text

_RECORD_IDS = UUID("6f1b2c1e-5d0a-4c3e-9d2b-0c7a8e4f1a10")


@dataclass(frozen=True)
class Decision:
    """The latest decision for one purpose: given or not, when, by whom, under which policy."""

    purpose: str
    granted: bool
    policy_version: str | None
    at: datetime
    actor: str
    version: int


@dataclass(frozen=True)
class Acceptance:
    """The subject accepted a version of the privacy policy (obligation 7)."""

    policy_version: str
    at: datetime
    actor: str
    version: int


def _source(source: str | None, sealer: Sealer, record: ConsentRecord) -> dict[str, str]:
    if source is None:
        return {}
    values: dict[str, PersonalValue] = {
        "source": clean_text(source, "source", max_length=200, required=True)
    }
    return seal_event_fields(
        sealer, UUID(record.tenant_id), record.contact_id, record.id, record.version + 1, values
    )


class ConsentRecord(ContactMatter):
    """The consents of one contact. ``decisions`` holds the latest decision per purpose."""

    class Opened(ContactMatter.Created):
        pass

    class Decided(ContactMatter.Event):
        """Base of grants and withdrawals: a decision about one purpose."""

        purpose: str
        policy_version: str | None
        sealed: dict[str, str]

        granted = True

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ConsentRecord)
            aggregate.decisions[self.purpose] = Decision(
                self.purpose,
                self.granted,
                self.policy_version,
                self.timestamp,
                self.actor,
                self.originator_version,
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
    ) -> Decision:
        """Record a grant or a withdrawal. Withdrawing what was never granted records a refusal."""
        code = consent_purpose(purpose).code
        self.trigger_event(
            self.Granted if granted else self.Withdrawn,
            tenant_id=self.tenant_id,
            actor=actor,
            contact_id=str(self.contact_id),
            purpose=code,
            policy_version=policy_version,
            sealed=_source(source, sealer, self),
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
            sealed=_source(source, sealer, self),
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
