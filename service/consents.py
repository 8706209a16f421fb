"""Consents and privacy-policy versions: the commands, over the event store."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, NamedTuple, TypeVar
from uuid import UUID

from domain.consent import Acceptance, ConsentRecord, Decision, GivenBy, Guardian
from domain.contact import Contact
from domain.policy import PrivacyPolicy, resolve_version, version_to_accept
from projections.store import ReadModelStore
from service.crm import CRM, Committed
from service.disclosure import AccessLog

E = TypeVar("E", Decision, Acceptance)


class Recorded(NamedTuple, Generic[E]):
    """A decision or an acceptance, and the consent record it is now part of."""

    record: ConsentRecord
    entry: E


class Consents:
    """Grant, withdraw, accept a policy version; publish versions; look consents up."""

    def __init__(self, crm: CRM, read_models: ReadModelStore) -> None:
        self.crm = crm
        self.read_models = read_models

    def record(self, tenant_id: UUID, contact_id: UUID) -> ConsentRecord | None:
        """The contact's consent record, ``None`` before its first decision."""
        record_id = ConsentRecord.id_for(tenant_id, contact_id)
        return self.crm.find(ConsentRecord, tenant_id, record_id)

    def policy(self, tenant_id: UUID) -> PrivacyPolicy | None:
        return self.crm.find(PrivacyPolicy, tenant_id, PrivacyPolicy.id_for(tenant_id))

    def decide(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        *,
        purpose: str,
        granted: bool,
        policy_version: str | None,
        source: str | None,
        access: AccessLog,
        given_by: str = GivenBy.SUBJECT,
        guardian: Guardian | None = None,
    ) -> Committed[Recorded[Decision]]:
        """Record a grant or a withdrawal, under the named or the current policy version.

        Whether the subject is a child is decided on their age, opened through ``access``
        (for its purpose, and recorded in its trail) only when the decision depends on it:
        a grant the subject gives, for a contact whose record holds an age. A withdrawal, a
        parent's or guardian's grant, and a contact without an age open nothing.
        """
        contact = self.crm.live_contact(tenant_id, contact_id)
        version = resolve_version(
            self.policy(tenant_id), policy_version, self.crm.clock(), "policy_version"
        )
        record = self._record_or_new(tenant_id, contact_id, actor)
        decision = record.decide(
            purpose=purpose,
            granted=granted,
            actor=actor,
            policy_version=version,
            source=source,
            sealer=self.crm.sealer,
            subject_age=lambda: self._age(contact, access),
            given_by=given_by,
            guardian=guardian,
        )
        return self.crm.committed(Recorded(record, decision), record)

    def _age(self, contact: Contact, access: AccessLog) -> int | None:
        """The contact's age, opened for the request's purpose; ``None`` when none is held."""
        if "age" not in contact.fields:
            return None
        opened = self.crm.sealer.open_fields(
            UUID(contact.tenant_id), contact.id, {"age": contact.fields["age"]}, access
        )
        return int(opened["age"])

    def accept_policy(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        *,
        policy_version: str | None,
        source: str | None,
    ) -> Committed[Recorded[Acceptance]]:
        """Record that the subject accepted a published version (by default, the current)."""
        self.crm.live_contact(tenant_id, contact_id)
        version = version_to_accept(self.policy(tenant_id), policy_version, self.crm.clock())
        record = self._record_or_new(tenant_id, contact_id, actor)
        acceptance = record.accept_policy(
            policy_version=version, actor=actor, source=source, sealer=self.crm.sealer
        )
        return self.crm.committed(Recorded(record, acceptance), record)

    def publish_policy(
        self,
        tenant_id: UUID,
        actor: str,
        *,
        version: str,
        effective_at: datetime | None,
        document_url: str | None,
        document_sha256: str | None,
    ) -> Committed[PrivacyPolicy]:
        """Publish a version of the tenant's privacy policy, in force from ``effective_at``."""
        policy = self.policy(tenant_id) or PrivacyPolicy.adopt(tenant_id=tenant_id, actor=actor)
        policy.publish(
            version=version,
            actor=actor,
            effective_at=effective_at or self.crm.clock(),
            document_url=document_url,
            document_sha256=document_sha256,
        )
        return self.crm.committed(policy, policy)

    def _record_or_new(self, tenant_id: UUID, contact_id: UUID, actor: str) -> ConsentRecord:
        return self.record(tenant_id, contact_id) or ConsentRecord.open(
            tenant_id=tenant_id, contact_id=contact_id, actor=actor
        )
