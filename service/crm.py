"""The event-store gateway: find, commit, open, and the clock, for every command group.

An ``eventsourcing`` Application whose events carry personal data only as sealed tokens.
It holds no command of its own: tenants, users, contacts, consents, service data, shares,
requests and erasures are command groups beside it (``service/<group>.py``), built in
:mod:`service.bootstrap` with their collaborators passed in. Each command there is *get,
call, save, answer*: it loads aggregates through :meth:`CRM.owned` / :meth:`CRM.find`,
calls one domain method, saves with :meth:`CRM.commit` (or :meth:`CRM.create` for a new
aggregate), and returns :class:`Committed`, its value and the log position it reached.
Every lookup takes the caller's tenant and refuses another tenant's aggregates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    EventStore,
    IntegrityError,
    Recording,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType, get_topic

from crypto.errors import KeyDestroyed
from crypto.keystore import Keystore
from crypto.sealer import Disclosure, SealingSession, SubjectSealer
from domain.base import TenantAggregate
from domain.contact import Contact
from domain.errors import DomainError, SubjectErased
from domain.keys import SubjectKey, subject_key_id
from domain.sealing import field_label
from domain.tenant import Tenant
from service.errors import CommitFailed, ConcurrentWrite, NotFound
from service.group_commit import BatchSizes, GroupCommitter
from sqlstore.sql import is_unique_violation
from storage.folding import gathered, mutate_in_turn
from storage.ledger import LedgerWriter
from storage.recorders import LedgerRecorder, PostgresLedgerRecorder, SQLiteLedgerRecorder
from storage.snapshots import BoundSnapshotStore
from storage.transcoder import OrjsonTranscoder

log = logging.getLogger("crm.store")
A = TypeVar("A", bound=Aggregate)
TA = TypeVar("TA", bound=TenantAggregate)
T = TypeVar("T")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def belongs_to(aggregate: Aggregate, tenant_id: UUID) -> bool:
    """Whether ``aggregate`` is of the tenant ``tenant_id`` (a tenant is its own)."""
    if isinstance(aggregate, Tenant):
        return aggregate.id == tenant_id
    return isinstance(aggregate, TenantAggregate) and aggregate.tenant_id == str(tenant_id)


@dataclass(frozen=True)
class ContactHead:
    """A contact's last version and its last event (erased if that is ``Contact.Erased``)."""

    version: int
    last_event: Any

    @property
    def erased(self) -> bool:
        return isinstance(self.last_event, Contact.Erased)


class Committed(NamedTuple, Generic[T]):
    """What every command returns: its value (usually the aggregate it changed), and the
    position of its last event, which the API waits for before answering (read your writes).
    """

    value: T
    position: int


@dataclass(frozen=True)
class Issued:
    """A user with the bearer token just issued for it (shown once, never stored)."""

    user_id: UUID
    token: str
    version: int


class CRM(Application[UUID]):
    """The gateway. ``sealer`` seals and opens; ``keystore`` answers for erasure fences;
    ``clock`` tells the time the privacy rules need (deadlines, expiry, the policy in force).
    ``snapshot_every``: a contact is snapshotted each time its events reach a multiple of it
    (0: never), see :mod:`storage.snapshots`. ``cache_size``: aggregates kept in memory
    (0: none), see :meth:`load`.
    """

    name = "crm"
    snapshotted = (Contact,)  # the aggregates whose streams grow long

    def __init__(
        self,
        env: Mapping[str, str],
        sealer: SubjectSealer,
        keystore: Keystore,
        ledger: LedgerWriter,
        group_commit: bool = True,
        clock: Clock = system_clock,
        commit_batch_sizes: BatchSizes | None = None,
        snapshot_every: int = 0,
        cache_size: int = 0,
    ) -> None:
        self.snapshot_every = snapshot_every
        self.cache_size = cache_size
        self.snapshot_store: BoundSnapshotStore | None = None
        self.sealer = sealer
        self.keystore = keystore
        self.ledger = ledger
        self.clock = clock
        super().__init__(env=dict(env))
        self.group_committer = (
            GroupCommitter(self.save, batch_sizes=commit_batch_sizes) if group_commit else None
        )

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
        settings["IS_SNAPSHOTTING_ENABLED"] = "y" if self.snapshot_every > 0 else "n"
        if self.cache_size > 0:  # the library's cache, brought up to date at every load
            settings["AGGREGATE_CACHE_MAXSIZE"] = str(self.cache_size)
            settings["AGGREGATE_CACHE_FASTFORWARD"] = "y"
            settings["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "y"
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

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots are signed with the ledger's key and used only while bound to it."""
        self.snapshot_store = BoundSnapshotStore(
            self.mapper,
            self.factory.aggregate_recorder(purpose="snapshots"),
            self.ledger_recorder,
            self.ledger.signer,
            self.snapshotted,
            self.snapshot_every,
        )
        return self.snapshot_store

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def load(self, aggregate_id: UUID, version: int | None = None) -> Aggregate:
        """An aggregate from its snapshot and the events after it (up to ``version``),
        folded by :func:`storage.folding.mutate_in_turn`; AggregateNotFoundError if none.

        The latest version comes from the cache when it holds the aggregate: the events
        stored after the cached version (by this process or any other) are read and applied
        first, in one query, so a load is as current as without the cache, and the caller
        gets a copy, so a command that fails leaves the cached state untouched. The cache
        holds what events hold (personal values sealed), never plaintext."""
        aggregate: Aggregate = self.repository.get(
            aggregate_id, version=version, projector_func=mutate_in_turn
        )
        return aggregate

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """The library's save, with what it stores gathered by :func:`storage.folding.gathered`."""
        processing_event = gathered(objs, kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def commit(self, *aggregates: Aggregate) -> int:
        """Save atomically; return the position of the last event. A lost race is a 409.
        Then snapshot what grew long (after the commit, never failing it)."""
        events = [e for a in aggregates for e in a.collect_events()]
        position = max(self.commit_events(events))
        if self.snapshot_store is not None:
            self.snapshot_store.take_due(aggregates, events)
        return position

    def committed(self, value: T, *aggregates: Aggregate) -> Committed[T]:
        """Save ``aggregates`` atomically and answer with ``value`` at their position."""
        return Committed(value, self.commit(*aggregates))

    def create(
        self, kind: type[A], tenant_id: UUID, created: A, *with_it: Aggregate
    ) -> Committed[A]:
        """Commit a new aggregate, at most once per id. Ids derived from an idempotency key
        make a re-run of a command that committed, but whose answer was never kept (the
        process died in between), collide with the first run: it then gets the aggregate the
        first run created, and the position it is at, instead of a duplicate."""
        try:
            return Committed(created, self.commit(created, *with_it))
        except ConcurrentWrite:
            existing = self.created_before(kind, tenant_id, created.id)
            return Committed(existing, self.position_of(existing.id, existing.version))

    def created_before(self, kind: type[A], tenant_id: UUID, aggregate_id: UUID) -> A:
        """The aggregate a create collided with; a collision with anything else (another
        tenant's, another kind) is not a re-run, so it stays a conflict."""
        try:
            existing = self.load(aggregate_id)
        except AggregateNotFoundError:
            raise ConcurrentWrite("another write to this resource won the race") from None
        if not isinstance(existing, kind) or not belongs_to(existing, tenant_id):
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
        except Exception as exc:
            raise self._translated(exc) from None
        return [r.notification.id for r in recordings]

    def commit_soon(self, aggregate: Aggregate) -> Future[int] | None:
        """Hand a new aggregate that nothing else writes (an access record) to group commit
        and return at once: the future of its last position, or of the error
        :meth:`commit` would raise. ``None`` without group commit: then :meth:`commit`."""
        if self.group_committer is None:
            return None
        committed: Future[int] = Future()

        def done(saving: Future[list[Recording[Any]]]) -> None:
            try:
                committed.set_result(max(r.notification.id for r in saving.result()))
            except Exception as exc:
                committed.set_exception(self._translated(exc))

        self.group_committer.enqueue(aggregate.collect_events()).add_done_callback(done)
        return committed

    @classmethod
    def _translated(cls, exc: Exception) -> Exception:
        """What a failed save means to the caller: a lost race (409), a domain rule, or a
        commit that stored nothing."""
        if isinstance(exc, IntegrityError) and is_unique_violation(exc):
            return ConcurrentWrite("another write to this resource won the race")
        if isinstance(exc, DomainError):
            return exc
        # The database, the signer or its KMS: nothing was stored.
        return cls._commit_failed(exc)

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
        """The contact, unless it was erased: every command about a subject starts here. The
        keystore's fence is asked too, so a command that needs no key still stops in the
        moment between an erasure destroying the key and recording it."""
        contact = self.contact(tenant_id, contact_id)
        if contact.erased or self.keystore.is_erased(tenant_id, contact_id):
            raise SubjectErased("the contact was erased")
        return contact

    def open_sealed(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        aggregate_id: UUID,
        version: int,
        sealed: Mapping[str, str],
        disclosure: Disclosure,
    ) -> dict[str, Any] | None:
        """Open the values an event of ``aggregate_id`` sealed for ``subject_id``.

        ``None`` once the subject is erased: callers show that as erased, never fail.
        """
        return self.open_many(tenant_id, subject_id, [(aggregate_id, version, sealed)], disclosure)[
            0
        ]

    def open_many(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        events: Sequence[tuple[UUID, int, Mapping[str, str]]],
        disclosure: Disclosure,
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
            values = iter(self.sealer.open_cells(tenant_id, subject_id, cells, disclosure))
        except KeyDestroyed:
            return [None for _ in events]
        return [{field: next(values) for field in sealed} for _, _, sealed in events]

    def open_contact(self, contact: Contact, disclosure: Disclosure) -> dict[str, Any]:
        """The contact's personal fields in plaintext; SubjectErased once erased (a key
        destroyed meanwhile surfaces as ``KeyDestroyed``, the same 410 at the edge)."""
        if contact.erased:
            raise SubjectErased("the contact was erased")
        tenant_id = UUID(contact.tenant_id)
        return self.sealer.open_fields(tenant_id, contact.id, contact.fields, disclosure)

    def find(self, kind: type[TA], tenant_id: UUID, aggregate_id: UUID) -> TA | None:
        """Like :meth:`owned`, but ``None`` when there is none (records created on first use)."""
        try:
            return self.owned(kind, tenant_id, aggregate_id)
        except NotFound:
            return None

    def owned(self, kind: type[TA], tenant_id: UUID, aggregate_id: UUID) -> TA:
        """An aggregate of ``kind`` in the caller's tenant; anything else is NotFound."""
        try:
            aggregate = self.load(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.__name__.lower()} with that id") from None
        if not isinstance(aggregate, kind) or not belongs_to(aggregate, tenant_id):
            raise NotFound(f"no {kind.__name__.lower()} with that id")
        return aggregate
