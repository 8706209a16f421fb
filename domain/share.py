"""Sharing a subject's data with a third party: the policy's procedure as a state machine.

The policy ("Bagaimana kami mengumpulkan data", point 3) shares data only after (A) the
tenant's PIC approved it and (B) an authorisation matching the agreement with the third
party exists; DESIGN.md adds that a revoked or expired authorisation blocks further shares.
Each step is an event: requested, approved, authorized, executed, revoked. A step out of
order is refused and records nothing. Executing also needs the subject's current consent
for ``third_party_sharing`` (and for the share's purpose, when that rests on consent); the
values shared are recorded sealed with the subject's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.base import ContactMatter
from domain.consent import ConsentRecord, require_consent
from domain.contact import PERSONAL_FIELDS
from domain.errors import AuthorisationExpired, InvalidField, TransitionNotAllowed
from domain.purposes import purpose as catalogue_purpose
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import clean_text, utc_text

SHARING_PURPOSE = "third_party_sharing"


class ShareStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    AUTHORIZED = "authorized"
    EXECUTED = "executed"
    REVOKED = "revoked"


def _fields(fields: list[str]) -> list[str]:
    if not fields:
        raise InvalidField("fields", "must name at least one contact field")
    unknown = set(fields) - set(PERSONAL_FIELDS)
    if unknown:
        raise InvalidField("fields", "may only name contact fields: " + ", ".join(PERSONAL_FIELDS))
    return sorted(set(fields))


class DataShare(ContactMatter):
    """One share of named fields of one contact with one recipient, for one purpose."""

    class Requested(ContactMatter.Created):
        recipient: str
        purpose: str
        fields: list[str]

    class Approved(ContactMatter.Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DataShare)
            aggregate.status = ShareStatus.APPROVED

    class Authorized(ContactMatter.Event):
        agreement_ref: str
        expires_at: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DataShare)
            aggregate.status = ShareStatus.AUTHORIZED
            aggregate.agreement_ref = self.agreement_ref
            aggregate.expires_at = (
                None if self.expires_at is None else datetime.fromisoformat(self.expires_at)
            )

    class Executed(ContactMatter.Event):
        fields: list[str]
        sealed: dict[str, str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DataShare)
            aggregate.status = ShareStatus.EXECUTED

    class Revoked(ContactMatter.Event):
        reason: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DataShare)
            aggregate.status = ShareStatus.REVOKED

    def __init__(
        self,
        tenant_id: str,
        actor: str,
        contact_id: str,
        recipient: str,
        purpose: str,
        fields: list[str],
    ) -> None:
        self.tenant_id = tenant_id
        self.contact_id = UUID(contact_id)
        self.recipient = recipient
        self.purpose = purpose
        self.fields = fields
        self.status = ShareStatus.REQUESTED
        self.agreement_ref: str | None = None
        self.expires_at: datetime | None = None

    @classmethod
    def request(
        cls,
        *,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        recipient: str,
        purpose: str,
        fields: list[str],
        share_id: UUID | None = None,
    ) -> DataShare:
        """Ask to share ``fields`` of a contact with ``recipient`` (a business, kept in clear)."""
        return cls._create(
            cls.Requested,
            id=share_id or uuid4(),
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
            recipient=clean_text(recipient, "recipient", max_length=200, required=True),
            purpose=catalogue_purpose(purpose).code,
            fields=_fields(fields),
        )

    def approve(self, *, actor: str) -> None:
        """Step A: the tenant's PIC approves the request."""
        self._require(ShareStatus.REQUESTED, step="approved")
        self.trigger_event(self.Approved, **self._common(actor))

    def authorize(
        self, *, actor: str, agreement_ref: str, expires_at: datetime | None, now: datetime
    ) -> None:
        """Step B: an authorisation matching the agreement with the recipient, after A.

        An authorised share may be authorised again (a renewed agreement replaces the old).
        """
        self._require(ShareStatus.APPROVED, ShareStatus.AUTHORIZED, step="authorized")
        agreement_ref = clean_text(agreement_ref, "agreement_ref", max_length=200, required=True)
        if expires_at is not None and expires_at <= now:
            raise InvalidField("expires_at", "must be in the future")
        self.trigger_event(
            self.Authorized,
            **self._common(actor),
            agreement_ref=agreement_ref,
            expires_at=None if expires_at is None else utc_text(expires_at),
        )

    def execute(
        self,
        *,
        actor: str,
        values: Mapping[str, PersonalValue],
        consents: ConsentRecord | None,
        sealer: Sealer,
        now: datetime,
    ) -> dict[str, PersonalValue]:
        """Share the requested fields the contact holds; return what was shared."""
        self.check_executable(consents, now)
        shared = {f: values[f] for f in self.fields if f in values}
        version = self.version + 1
        self.trigger_event(
            self.Executed,
            **self._common(actor),
            fields=sorted(shared),
            sealed=seal_event_fields(
                sealer, UUID(self.tenant_id), self.contact_id, self.id, version, shared
            ),
        )
        return shared

    def check_executable(self, consents: ConsentRecord | None, now: datetime) -> None:
        """Whether the share may be carried out now: authorised, not expired, consented. Asked
        before the contact's values are even opened."""
        self._require(ShareStatus.AUTHORIZED, step="executed")
        if self.expires_at is not None and now >= self.expires_at:
            raise AuthorisationExpired
        require_consent(consents, SHARING_PURPOSE)
        if catalogue_purpose(self.purpose).requires_consent:
            require_consent(consents, self.purpose)

    def revoke(self, *, actor: str, reason: str | None) -> None:
        """Withdraw the share at any step; nothing more can be done with it."""
        if self.status is ShareStatus.REVOKED:
            raise TransitionNotAllowed("share", "revoked", self.status.value)
        if reason is not None:
            reason = clean_text(reason, "reason", max_length=500)
        self.trigger_event(self.Revoked, **self._common(actor), reason=reason)

    def _require(self, *allowed: ShareStatus, step: str) -> None:
        if self.status not in allowed:
            raise TransitionNotAllowed("share", step, self.status.value)

    def _common(self, actor: str) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "actor": actor, "contact_id": str(self.contact_id)}
