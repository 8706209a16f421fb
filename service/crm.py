"""The CRM application: commands and queries over the event store.

An ``eventsourcing`` Application whose events carry personal data only as sealed tokens.
Every method takes the caller's tenant and refuses to touch another tenant's aggregates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder
from eventsourcing.utils import Environment, EnvType

from crypto.certificates import ErasureCertificate
from crypto.errors import KeyDestroyed
from crypto.keystore import Keystore
from crypto.sealer import SubjectSealer
from domain.contact import Contact
from domain.errors import VersionMismatch
from domain.tenant import Tenant
from domain.user import Role, User
from service.credentials import hash_password, new_token, token_hash
from service.errors import ConcurrentWrite, Gone, NotFound
from storage.transcoder import OrjsonTranscoder

A = TypeVar("A", bound=Aggregate)
PLATFORM_ACTOR = "platform"


@dataclass(frozen=True)
class Issued:
    """A new aggregate with the bearer token issued for it (shown once, never stored)."""

    aggregate_id: UUID
    token: str
    version: int
    position: int


class CRM(Application[UUID]):
    """Commands and queries. ``sealer`` seals and opens; ``keystore`` destroys keys."""

    name = "crm"

    def __init__(self, env: Mapping[str, str], sealer: SubjectSealer, keystore: Keystore) -> None:
        self.sealer = sealer
        self.keystore = keystore
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Configuration comes only from :mod:`service.settings`, never from os.environ."""
        return Environment(name, dict(env or {}))

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _save(self, *aggregates: Aggregate) -> int:
        """Save atomically; return the position of the last event. A lost race is a 409."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentWrite("another write to this resource won the race") from None
        return max(r.notification.id for r in recordings)

    # Tenants and users

    def create_tenant(self, name: str) -> tuple[Tenant, Issued]:
        """A tenant and its first admin, in one transaction."""
        tenant = Tenant.create(name=name, actor=PLATFORM_ACTOR)
        token = new_token()
        admin = User.register(
            tenant_id=tenant.id,
            actor=PLATFORM_ACTOR,
            role=Role.ADMIN,
            details={},
            token_hash=token_hash(token),
            password_hash=None,
            sealer=self.sealer,
        )
        position = self._save(tenant, admin)
        return tenant, Issued(admin.id, token, admin.version, position)

    def register_user(
        self,
        tenant_id: UUID,
        actor: str,
        role: str,
        details: Mapping[str, object],
        password: str | None,
    ) -> Issued:
        token = new_token()
        user = User.register(
            tenant_id=tenant_id,
            actor=actor,
            role=role,
            details=details,
            token_hash=token_hash(token),
            password_hash=hash_password(password) if password else None,
            sealer=self.sealer,
        )
        position = self._save(user)
        return Issued(user.id, token, user.version, position)

    def issue_token(self, tenant_id: UUID, user_id: UUID, actor: str) -> Issued:
        """A new token for an existing user (after a login); shown once, stored as a hash."""
        user = self._owned(User, tenant_id, user_id)
        token = new_token()
        user.issue_token(actor=actor, token_hash=token_hash(token))
        position = self._save(user)
        return Issued(user.id, token, user.version, position)

    def revoke_tokens(self, tenant_id: UUID, user_id: UUID, actor: str) -> int:
        """Revoke every token of a user; returns the position of the revocation event."""
        user = self._owned(User, tenant_id, user_id)
        user.revoke_tokens(actor=actor)
        return self._save(user)

    def user(self, tenant_id: UUID, user_id: UUID) -> User:
        return self._owned(User, tenant_id, user_id)

    # Contacts

    def register_contact(
        self, tenant_id: UUID, actor: str, details: Mapping[str, object]
    ) -> tuple[Contact, int]:
        contact = Contact.register(
            tenant_id=tenant_id, actor=actor, details=details, sealer=self.sealer
        )
        return contact, self._save(contact)

    def update_contact(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        changes: Mapping[str, object],
        expected_version: int | None,
    ) -> tuple[Contact, int]:
        contact = self.contact(tenant_id, contact_id)
        if contact.erased:
            raise Gone("the contact was erased")
        try:
            contact.update(
                actor=actor, changes=changes, sealer=self.sealer, expected_version=expected_version
            )
        except KeyDestroyed:
            raise Gone("the contact was erased") from None
        return contact, self._save(contact)

    def erase_contact(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        reason: str,
        request_id: str | None,
        expected_version: int | None = None,
    ) -> ErasureCertificate:
        """Destroy the subject's key first, then record it: a failure in between leaves the
        data erased and a retry records the event (the key stays destroyed)."""
        contact = self.contact(tenant_id, contact_id)
        if contact.erased:
            raise Gone("the contact was already erased")
        if expected_version is not None and expected_version != contact.version:
            raise VersionMismatch(expected_version, contact.version)
        destruction = self.keystore.destroy(tenant_id, contact_id)
        erasure_id = uuid.uuid4()
        contact.record_erasure(
            actor=actor,
            erasure_id=erasure_id,
            key_id=destruction.key_id,
            destroyed_at=destruction.destroyed_at.isoformat(),
            reason=reason,
            request_id=request_id,
        )
        position = self._save(contact)
        return ErasureCertificate(
            erasure_id=str(erasure_id),
            tenant_id=str(tenant_id),
            subject_id=str(contact_id),
            key_id=destruction.key_id,
            destroyed_at=destruction.destroyed_at.isoformat(),
            erased_by=actor,
            request_id=request_id,
            ledger_position=position,
        )

    def contact(self, tenant_id: UUID, contact_id: UUID) -> Contact:
        return self._owned(Contact, tenant_id, contact_id)

    def open_contact(self, contact: Contact) -> dict[str, Any]:
        """The contact's personal fields in plaintext; raises Gone once erased."""
        if contact.erased:
            raise Gone("the contact was erased")
        try:
            return self.sealer.open_fields(UUID(contact.tenant_id), contact.id, contact.fields)
        except KeyDestroyed:
            raise Gone("the contact was erased") from None

    def _owned(self, kind: type[A], tenant_id: UUID, aggregate_id: UUID) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.__name__.lower()} with that id") from None
        if not isinstance(aggregate, kind) or getattr(aggregate, "tenant_id", None) != str(
            tenant_id
        ):
            raise NotFound(f"no {kind.__name__.lower()} with that id")
        return aggregate
