"""The CRM application: commands and queries over the event store.

An ``eventsourcing`` Application whose events carry personal data only as sealed tokens.
Every method takes the caller's tenant and refuses to touch another tenant's aggregates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Transcoder
from eventsourcing.utils import Environment, EnvType, get_topic

from crypto.errors import KeyDestroyed
from crypto.keystore import Keystore
from crypto.sealer import SealingSession, SubjectSealer
from domain.contact import Contact
from domain.errors import DomainError
from domain.keys import SubjectKey, subject_key_id
from domain.sealing import field_label
from domain.tenant import Tenant, first_admin_id
from domain.user import Role, User
from service.consents import Consents
from service.credentials import hash_password, new_token, token_hash
from service.errors import CommitFailed, ConcurrentWrite, Gone, NotFound
from service.group_commit import BatchSizes, GroupCommitter
from service.service_data import ServiceData
from service.shares import Shares
from sqlstore.sql import is_unique_violation
from storage.ledger import (
    LedgerRecorder,
    LedgerWriter,
    PostgresLedgerRecorder,
    SQLiteLedgerRecorder,
)
from storage.transcoder import OrjsonTranscoder

log = logging.getLogger("crm.store")
A = TypeVar("A", bound=Aggregate)
PLATFORM_ACTOR = "platform"
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ContactHead:
    """A contact's last version and its last event (erased if that is ``Contact.Erased``)."""

    version: int
    last_event: Any

    @property
    def erased(self) -> bool:
        return isinstance(self.last_event, Contact.Erased)


@dataclass(frozen=True)
class Issued:
    """A new aggregate with the bearer token issued for it (shown once, never stored)."""

    aggregate_id: UUID
    token: str
    version: int
    position: int


class CRM(Application[UUID]):
    """Commands and queries. ``sealer`` seals and opens; ``keystore`` destroys keys; ``clock``
    tells the time the privacy rules need (deadlines, expiry, the policy in force).

    The commands of the privacy-policy domain are grouped by subject matter in
    ``consents``, ``service_data`` and ``shares``; requests and erasures, which need the
    keystore and the edge's stored responses too, are built beside it in the bootstrap.
    """

    name = "crm"

    def __init__(
        self,
        env: Mapping[str, str],
        sealer: SubjectSealer,
        keystore: Keystore,
        ledger: LedgerWriter,
        group_commit: bool = True,
        clock: Clock = system_clock,
        commit_batch_sizes: BatchSizes | None = None,
    ) -> None:
        self.sealer = sealer
        self.keystore = keystore
        self.ledger = ledger
        self.clock = clock
        super().__init__(env=dict(env))
        self.group_committer = (
            GroupCommitter(self.save, batch_sizes=commit_batch_sizes) if group_commit else None
        )
        self.consents = Consents(self)
        self.service_data = ServiceData(self)
        self.shares = Shares(self)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Configuration comes only from :mod:`service.settings`, never from os.environ.

        The recorder is always one that writes the audit ledger in the same transaction.
        """
        settings = dict(env or {})
        recorder = (
            PostgresLedgerRecorder
            if settings.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"
            else SQLiteLedgerRecorder
        )
        settings["APPLICATION_RECORDER_TOPIC"] = get_topic(recorder)
        return Environment(name, settings)

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        assert isinstance(recorder, LedgerRecorder)
        recorder.attach_ledger(self.ledger)
        return recorder

    @property
    def ledger_recorder(self) -> LedgerRecorder:
        assert isinstance(self.recorder, LedgerRecorder)
        return self.recorder

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def commit(self, *aggregates: Aggregate) -> int:
        """Save atomically; return the position of the last event. A lost race is a 409."""
        return max(self.commit_events([e for a in aggregates for e in a.collect_events()]))

    # Tenants and users

    def create_tenant(self, name: str, tenant_id: UUID | None = None) -> tuple[Tenant, Issued]:
        """A tenant and its first admin, in one transaction. Created at most once per id:
        a re-run (its id derived from an idempotency key) gets the tenant as it was created,
        with a new token for its first admin, the answer the first run never gave."""
        tenant = Tenant.create(name=name, actor=PLATFORM_ACTOR, tenant_id=tenant_id)
        admin_id = first_admin_id(tenant.id)
        token = new_token()
        admin = User.register(
            tenant_id=tenant.id,
            actor=PLATFORM_ACTOR,
            role=Role.ADMIN,
            details={},
            token_hash=token_hash(token),
            password_hash=None,
            sealer=self.sealer,
            user_id=admin_id,
        )
        try:
            position = self.commit(tenant, admin)  # the first admin has no personal data
        except ConcurrentWrite:
            existing = self._created_before(Tenant, tenant.id, tenant.id)
            return existing, self.issue_token(existing.id, admin_id, PLATFORM_ACTOR)
        return tenant, Issued(admin.id, token, admin.version, position)

    def register_user(
        self,
        tenant_id: UUID,
        actor: str,
        role: str,
        details: Mapping[str, object],
        password: str | None,
        user_id: UUID | None = None,
    ) -> Issued:
        """A new user with its first token; at most once per id (a re-run gets a new token
        for the user the first run created)."""
        token = new_token()
        session = self.sealer.session()
        user = User.register(
            tenant_id=tenant_id,
            actor=actor,
            role=role,
            details=details,
            token_hash=token_hash(token),
            password_hash=hash_password(password) if password else None,
            sealer=session,
            user_id=user_id,
        )
        try:
            position = self.commit(user, *self.key_records(session, actor, user.id))
        except ConcurrentWrite:
            existing = self._created_before(User, tenant_id, user.id)
            return self.issue_token(tenant_id, existing.id, actor)
        return Issued(user.id, token, user.version, position)

    def issue_token(self, tenant_id: UUID, user_id: UUID, actor: str) -> Issued:
        """A new token for an existing user (after a login); shown once, stored as a hash."""
        user = self.owned(User, tenant_id, user_id)
        token = new_token()
        user.issue_token(actor=actor, token_hash=token_hash(token))
        position = self.commit(user)
        return Issued(user.id, token, user.version, position)

    def revoke_tokens(self, tenant_id: UUID, user_id: UUID, actor: str) -> int:
        """Revoke every token of a user; returns the position of the revocation event."""
        user = self.owned(User, tenant_id, user_id)
        user.revoke_tokens(actor=actor)
        return self.commit(user)

    def user(self, tenant_id: UUID, user_id: UUID) -> User:
        return self.owned(User, tenant_id, user_id)

    # Contacts

    def register_contact(
        self,
        tenant_id: UUID,
        actor: str,
        details: Mapping[str, object],
        contact_id: UUID | None = None,
    ) -> tuple[Contact, int]:
        """A new contact, sealed under a new key; at most once per id (see :meth:`create`)."""
        session = self.sealer.session()
        contact = Contact.register(
            tenant_id=tenant_id,
            actor=actor,
            details=details,
            sealer=session,
            contact_id=contact_id,
        )
        return self.create(
            Contact, tenant_id, contact, *self.key_records(session, actor, contact.id)
        )

    def create(
        self, kind: type[A], tenant_id: UUID, created: A, *with_it: Aggregate
    ) -> tuple[A, int]:
        """Commit a new aggregate, at most once per id. Ids derived from an idempotency key
        make a re-run of a command that committed, but whose answer was never kept (the
        process died in between), collide with the first run: it then gets the aggregate the
        first run created, and the position it is at, instead of a duplicate."""
        try:
            return created, self.commit(created, *with_it)
        except ConcurrentWrite:
            existing = self._created_before(kind, tenant_id, created.id)
            return existing, self.position_of(existing.id, existing.version)

    def _created_before(self, kind: type[A], tenant_id: UUID, aggregate_id: UUID) -> A:
        """The aggregate a create collided with; a collision with anything else (another
        tenant's, another kind) is not a re-run, so it stays a conflict."""
        try:
            existing: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise ConcurrentWrite("another write to this resource won the race") from None
        owner = existing.id if isinstance(existing, Tenant) else getattr(existing, "tenant_id", "")
        if not isinstance(existing, kind) or str(owner) != str(tenant_id):
            raise ConcurrentWrite("another write to this resource won the race")
        return existing

    def key_records(
        self, session: SealingSession, actor: str, new_subject: UUID | None = None
    ) -> list[SubjectKey]:
        """``SubjectKey.Created`` for each key the command sealed under that the store does
        not record yet, saved in the same transaction as the events sealed under it: every
        key the command created, and the key of a subject the command creates when the
        keystore already had it (left by a failed first run, met again by a re-run)."""
        used = [k for k in session.used_keys if k.created or k.subject_id == new_subject]
        unsure = [subject_key_id(k.subject_id) for k in used if not k.created]
        recorded = self.ledger_recorder.aggregates_at_version(unsure, 1)
        return [
            SubjectKey.created(
                tenant_id=k.tenant_id,
                subject_id=k.subject_id,
                key_id=k.key_id,
                kek_id=k.kek_id,
                actor=actor,
            )
            for k in used
            if subject_key_id(k.subject_id) not in recorded
        ]

    def update_contact(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        changes: Mapping[str, object],
        expected_version: int | None,
    ) -> tuple[Contact, int]:
        contact = self.live_contact(tenant_id, contact_id)
        try:
            contact.update(
                actor=actor, changes=changes, sealer=self.sealer, expected_version=expected_version
            )
        except KeyDestroyed:
            raise Gone("the contact was erased") from None
        return contact, self.commit(contact)

    def contact_head(self, tenant_id: UUID, contact_id: UUID) -> ContactHead:
        """The contact's last version and event, from two indexed reads scoped to the tenant
        (what erasure needs, in the same time for ten events or ten thousand)."""
        first = self.recorder.select_events(contact_id, lte=1)
        registered: Any = self.mapper.to_domain_event(first[0]) if first else None
        if not isinstance(registered, Contact.Registered) or registered.tenant_id != str(tenant_id):
            raise NotFound("no contact with that id")
        last = self.recorder.select_events(contact_id, desc=True, limit=1)
        last_event = self.mapper.to_domain_event(last[0])
        return ContactHead(last_event.originator_version, last_event)

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The log position of one stored event."""
        return self.ledger_recorder.position_of(aggregate_id, version)

    def commit_events(self, events: list[Any]) -> list[int]:
        """Save events atomically, through group commit when enabled; return positions."""
        try:
            if self.group_committer is not None:
                recordings = self.group_committer.submit(events)
            else:
                recordings = self.save(*events)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise ConcurrentWrite("another write to this resource won the race") from None
            raise self._commit_failed(exc) from None
        except DomainError:
            raise
        except Exception as exc:  # the database, the signer or its KMS: nothing was stored
            raise self._commit_failed(exc) from None
        return [r.notification.id for r in recordings]

    @staticmethod
    def _commit_failed(exc: Exception) -> CommitFailed:
        # The type only: a database message can quote the values of the failed statement.
        log.error("commit failed, nothing stored", extra={"error_type": type(exc).__name__})
        return CommitFailed("the command could not be stored; nothing was changed, retry")

    def close(self) -> None:
        if self.group_committer is not None:
            self.group_committer.close()
        super().close()

    def contact(self, tenant_id: UUID, contact_id: UUID) -> Contact:
        return self.owned(Contact, tenant_id, contact_id)

    def live_contact(self, tenant_id: UUID, contact_id: UUID) -> Contact:
        """The contact, unless it was erased (Gone): every command about a subject starts
        here. The keystore's fence is asked too, so a command that needs no key still stops
        in the moment between an erasure destroying the key and recording it."""
        contact = self.contact(tenant_id, contact_id)
        if contact.erased:
            raise Gone("the contact was erased")
        try:
            self.keystore.key_for_opening(tenant_id, contact_id)
        except KeyDestroyed:
            raise Gone("the contact was erased") from None
        return contact

    def open_sealed(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        aggregate_id: UUID,
        version: int,
        sealed: Mapping[str, str],
    ) -> dict[str, Any] | None:
        """Open the values an event of ``aggregate_id`` sealed for ``subject_id``.

        ``None`` once the subject is erased: callers show that as erased, never fail.
        """
        return self.open_many(tenant_id, subject_id, [(aggregate_id, version, sealed)])[0]

    def open_many(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        events: Sequence[tuple[UUID, int, Mapping[str, str]]],
    ) -> list[dict[str, Any] | None]:
        """:meth:`open_sealed` for many events about one subject, with one key lookup.

        ``events`` holds (aggregate id, event version, sealed tokens) per event.
        """
        cells = [
            (field_label(subject_id, aggregate_id, field), version, token)
            for aggregate_id, version, sealed in events
            for field, token in sealed.items()
        ]
        try:
            values = iter(self.sealer.open_cells(tenant_id, subject_id, cells))
        except KeyDestroyed:
            return [None for _ in events]
        return [{field: next(values) for field in sealed} for _, _, sealed in events]

    def open_contact(self, contact: Contact) -> dict[str, Any]:
        """The contact's personal fields in plaintext; raises Gone once erased."""
        if contact.erased:
            raise Gone("the contact was erased")
        try:
            return self.sealer.open_fields(UUID(contact.tenant_id), contact.id, contact.fields)
        except KeyDestroyed:
            raise Gone("the contact was erased") from None

    def find(self, kind: type[A], tenant_id: UUID, aggregate_id: UUID) -> A | None:
        """Like :meth:`owned`, but ``None`` when there is none (records created on first use)."""
        try:
            return self.owned(kind, tenant_id, aggregate_id)
        except NotFound:
            return None

    def owned(self, kind: type[A], tenant_id: UUID, aggregate_id: UUID) -> A:
        """An aggregate of ``kind`` in the caller's tenant; anything else is NotFound."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.__name__.lower()} with that id") from None
        if not isinstance(aggregate, kind) or getattr(aggregate, "tenant_id", None) != str(
            tenant_id
        ):
            raise NotFound(f"no {kind.__name__.lower()} with that id")
        return aggregate
