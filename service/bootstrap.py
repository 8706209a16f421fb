"""Builds the whole service from settings: stores, keys, projections. Nothing else wires."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from crypto.blind_index import BlindIndex
from crypto.derive import key_fingerprint
from crypto.kek import LocalKeyEncryptionKey, decode_key, retired_key_files
from crypto.sealer import StorageOpenings, SubjectSealer
from crypto.signing import Signer
from crypto.sql_keystore import SqlKeystore
from domain.errors import ProcessingRefused
from domain.purposes import Purpose
from domain.purposes import purpose as catalogue_purpose
from projections.in_transaction import InTransactionProjector
from projections.rebuild import RebuildProgress, rebuild
from projections.runner import ReadModelProjection, ReadModelRunner
from projections.store import ReadModelStore
from service.crm import CRM, Clock, Committed, system_clock
from service.disclosure import AccessLog, LimitRule, StorageRun
from service.features import CommandGroups, command_groups, feature_read_models
from service.idempotency import IdempotencyStore
from service.key_custody import (
    Deployment,
    KeyCustodyError,
    bind,
    check_keystore_present,
    check_ledger_key,
    missing_keystore,
    probe,
    unusable,
)
from service.metrics import ServiceMetrics
from service.rate_limits import RateLimiter
from service.settings import Settings
from service.stores import (
    event_store_env,
    prepare_sqlite_files,
    read_model_store,
    read_models_url,
    shares_event_store,
)
from sqlstore.sql import SqlDatabase, create_private_file, open_database
from storage.ledger import CheckpointPolicy, LedgerWriter
from storage.recorders import ProjectedHere

log = logging.getLogger("crm.service")
T = TypeVar("T")


@dataclass
class ReadSide:
    """What maintaining read models needs: keys for blind indexes, projections, their store.
    A Kafka-fed projection worker builds only this, never touching the event store."""

    keystore: SqlKeystore
    keystore_db: SqlDatabase
    sealer: SubjectSealer
    blind_index: BlindIndex
    projections: list[ReadModelProjection]
    read_models: ReadModelStore
    storage: StorageOpenings  # what the read models opened to index, recorded once per run

    def close(self) -> None:
        self.keystore.close()
        self.keystore_db.close()
        close = getattr(getattr(self.read_models, "datastore", None), "close", None)
        if close is not None:
            close()


@dataclass
class Service(CommandGroups):
    """Everything a process needs, built once: the command groups, and what they run on."""

    settings: Settings
    crm: CRM
    keystore: SqlKeystore
    keystore_db: SqlDatabase
    read_models: ReadModelStore
    runner: ReadModelRunner
    signer: Signer
    ledger_signer: Signer
    blind_index: BlindIndex
    admin_token: str
    edge_db: SqlDatabase
    idempotency: IdempotencyStore
    rate_limiter: RateLimiter
    metrics: ServiceMetrics
    storage_run: StorageRun

    def catch_up(self) -> int:
        """Apply the log to the read models; the run's storage record follows their first
        opening (DESIGN invariant 12: storage openings are recorded once per run)."""
        reached = self.runner.catch_up()
        self.storage_run.record_if_opened()
        return reached

    def rebuild(
        self, chosen: Sequence[ReadModelProjection], progress: RebuildProgress | None = None
    ) -> int:
        """Rebuild read models from position zero and swap them in: one storage record for
        the whole rebuild, however many values it opened to index."""
        self.storage_run.restart("crm projections rebuild")
        reached = rebuild(
            self.crm,
            self.read_models,
            chosen,
            batch_size=self.settings.projections.batch_size,
            progress=progress,
        )
        self.storage_run.record_if_opened()
        return reached

    def read_your_writes(self, position: int) -> bool:
        """Make the read models reflect the log up to ``position`` before answering.

        Inline, this process applies the projections itself. Otherwise the projection
        worker does, and this waits for it until ``CRM_READ_YOUR_WRITES_TIMEOUT``; on
        timeout it answers anyway (the command did succeed), logs, counts it in
        ``/metrics`` and returns False.
        """
        if self.settings.projections.inline:
            if self._applied_at_commit(position) or self.runner.reached(position):
                self.storage_run.record_if_opened()
            else:
                self.catch_up()
            return True
        deadline = time.monotonic() + self.settings.projections.read_your_writes_timeout
        pause = 0.005
        while min(self.runner.positions().values(), default=position) < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.metrics.read_your_writes_timeouts.inc()
                log.warning("read models behind the command", extra={"position": position})
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)
        return True

    def _applied_at_commit(self, position: int) -> bool:
        """Whether a commit of this process applied every projection up to ``position`` in
        its own transaction (PostgreSQL): known without asking the tracking table, since
        tracking positions only move forward."""
        here: ProjectedHere | None = getattr(self.crm.recorder, "projected_here", None)
        return here is not None and position <= here.reached_at

    def read_to_head(self) -> bool:
        """Read models up to everything stored so far, before a read that must be complete
        (the processing trail: the access records of answers just given are in the log,
        committed after their commands' read models were brought up)."""
        return self.read_your_writes(self.runner.head())

    def access_log(
        self,
        *,
        tenant_id: UUID,
        actor: str,
        role: str,
        purpose: Purpose,
        operation: str,
        request_id: str | None,
    ) -> AccessLog:
        """The record-to-be of one request's openings, decided by the service's gate."""
        return AccessLog(self.gate, tenant_id, actor, role, purpose, operation, request_id)

    def check_limits(self, tenant_id: UUID, subject_id: UUID, purpose: str) -> None:
        """A write about the subject that opens nothing still stops at a restriction or an
        objection for its purpose (409 ``restricted`` / ``objected``)."""
        found = catalogue_purpose(purpose)
        for rule in self.gate.rules:
            if isinstance(rule, LimitRule):
                reason = rule.refusals(tenant_id, [subject_id], found).get(subject_id)
                if reason is not None:
                    raise ProcessingRefused(purpose, reason)

    def decide(self, access: AccessLog, contact_id: UUID) -> None:
        """Before a command whose answer will carry the contact's values: the contact must
        be the tenant's and live (404, 410), then the purpose allowed for it (409)."""
        self.crm.live_contact(access.tenant_id, contact_id)
        access.require(contact_id)

    def record_access(self, log: AccessLog) -> int | None:
        """Commit the request's access record (durable, ledgered) before its answer goes;
        the position, or ``None`` when nothing personal was opened."""
        record = log.record()
        if record is None:
            return None
        position = self.crm.commit(record)
        self.metrics.disclosed_subjects.inc(len(log.subjects))
        return position

    def record_access_soon(self, log: AccessLog) -> Future[int | None] | None:
        """:meth:`record_access` without holding a thread while the record commits: the
        future of its position; ``None`` without group commit (then :meth:`record_access`)."""
        record = log.record()
        if record is None:
            nothing: Future[int | None] = Future()
            nothing.set_result(None)
            return nothing
        committing = self.crm.commit_soon(record)
        if committing is None:
            return None
        recorded: Future[int | None] = Future()
        subjects = len(log.subjects)

        def done(commit: Future[int]) -> None:
            if (error := commit.exception()) is not None:
                recorded.set_exception(error)
                return
            self.metrics.disclosed_subjects.inc(subjects)
            recorded.set_result(commit.result())

        committing.add_done_callback(done)
        return recorded

    def answer(self, committed: Committed[T]) -> T:
        """A command's value, once the read models reflect it: how every route answers."""
        self.read_your_writes(committed.position)
        return committed.value

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.crm.close()
        self.keystore.close()
        self.keystore_db.close()
        self.edge_db.close()
        close = getattr(getattr(self.read_models, "datastore", None), "close", None)
        if close is not None:
            close()


def _admin_token(settings: Settings) -> str:
    if settings.admin_token:
        return settings.admin_token
    path = settings.admin_token_file
    try:
        if path.exists():
            return path.read_text().strip()
        token = "crm_admin_" + secrets.token_urlsafe(32)
        create_private_file(path)
        path.write_text(token + "\n")
    except OSError as exc:
        raise unusable(path, exc) from None
    return token


def key_encryption_key(settings: Settings, deployment: Deployment) -> LocalKeyEncryptionKey:
    """The current KEK, plus older ones (``CRM_KEK_PREVIOUS``, retired files) that still
    unwrap keys a rotation has not reached yet."""
    previous = [decode_key(k, "CRM_KEK_PREVIOUS") for k in settings.kek_previous]
    if not settings.kek:
        previous += [
            decode_key(path.read_text(), f"KEK file {path}")
            for path in retired_key_files(settings.kek_file)
        ]
    current = deployment.key("CRM_KEK", settings.kek, settings.kek_file)
    return LocalKeyEncryptionKey(current, tuple(previous))


# A process that never opens the event store (a Kafka-fed projection worker) cannot tell
# a new deployment from an existing one, so it creates no key at all.
EXISTING = Deployment(has_events=True)


def read_side(settings: Settings, deployment: Deployment = EXISTING) -> ReadSide:
    """Keys, keystore, projections and read models: what maintaining read models needs.
    A step that fails (a KEK the keystore does not know, a missing key file) closes what
    the steps before it opened."""
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(settings.data_dir, exc) from None
    check_keystore_present(settings, deployment)  # before an empty file would be made
    prepare_sqlite_files(settings)
    kek = key_encryption_key(settings, deployment)
    with ExitStack() as opened:
        keystore_db = open_database(settings.keystore_url)
        opened.callback(keystore_db.close)
        keystore = SqlKeystore(keystore_db, kek)
        if deployment.has_events and not keystore.initialised():
            raise KeyCustodyError(missing_keystore("at CRM_KEYSTORE_URL"))
        keystore.create_tables()
        keystore.register_kek(allow_new=not deployment.has_events)
        sealer = SubjectSealer(keystore)
        blind_index = BlindIndex(
            deployment.key("CRM_INDEX_KEY", settings.index_key, settings.index_key_file)
        )
        storage = StorageOpenings()
        projections = feature_read_models(sealer, blind_index, storage)
        read_models = read_model_store(
            read_models_url(settings), [s for p in projections for s in p.schema]
        )
        opened.pop_all()
    return ReadSide(keystore, keystore_db, sealer, blind_index, projections, read_models, storage)


def bootstrap(settings: Settings, clock: Clock = system_clock) -> Service:
    """Build the service; ``clock`` is replaced only by tests that move time (deadlines).

    Key material is created only for a new deployment, and checked against the data at
    every start (:mod:`service.key_custody`). A start that stops there (a key that does not
    match, a key file gone) closes every pool, database and thread it had opened."""
    deployment = probe(settings)
    side = read_side(settings, deployment)
    with ExitStack() as opened:
        opened.callback(side.close)
        service = _service(settings, clock, deployment, side, opened)
        opened.pop_all()
    return service


def _service(
    settings: Settings, clock: Clock, deployment: Deployment, side: ReadSide, opened: ExitStack
) -> Service:
    """The rest of :func:`bootstrap`, each thing that must be closed registered on
    ``opened`` as soon as it exists."""
    ledger_signer = Signer(
        deployment.key(
            "CRM_LEDGER_SIGNING_KEY", settings.ledger_signing_key, settings.ledger_signing_key_file
        )
    )
    ledger = LedgerWriter(ledger_signer, CheckpointPolicy(settings.checkpoint_every_events))
    metrics = ServiceMetrics()
    side.keystore.creations.batch_sizes = metrics.key_batch  # /metrics: crm_key_batch_keys
    crm = CRM(
        event_store_env(settings.database_url),
        side.sealer,
        side.keystore,
        ledger,
        group_commit=settings.group_commit,
        clock=clock,
        commit_batch_sizes=metrics.group_commit_batch,
        snapshot_every=settings.snapshot_every_events,
        cache_size=settings.aggregate_cache_size,
    )
    opened.callback(crm.close)
    signer = Signer(
        deployment.key("CRM_SIGNING_KEY", settings.signing_key, settings.signing_key_file)
    )
    api_secret = deployment.key("CRM_API_SECRET", settings.api_secret, settings.api_secret_file)
    check_ledger_key(crm.ledger_recorder, ledger_signer.public_key)
    bind(
        crm.ledger_recorder,
        {
            "CRM_INDEX_KEY": side.blind_index.fingerprint(),
            "CRM_SIGNING_KEY": signer.public_key,
            "CRM_LEDGER_SIGNING_KEY": ledger_signer.public_key,
            "CRM_API_SECRET": key_fingerprint(api_secret),
            "CRM_KEYSTORE_URL": side.keystore.identity(),
        },
    )
    edge_db = open_database(read_models_url(settings))
    opened.callback(edge_db.close)
    idempotency = IdempotencyStore(
        edge_db,
        api_secret,
        settings.idempotency_ttl_seconds,
        settings.idempotency_lease_seconds,
    )
    idempotency.create_tables()
    rate_limiter = RateLimiter(edge_db, api_secret)
    rate_limiter.create_tables()
    runner = ReadModelRunner(
        crm, side.read_models, side.projections, batch_size=settings.projections.batch_size
    )
    if settings.projections.inline and shares_event_store(settings):
        crm.ledger_recorder.attach_projector(
            InTransactionProjector(crm.mapper, side.read_models, side.projections)
        )
    metrics.watch(lambda: crm.recorder.max_notification_id() or 0, runner, side.read_models)
    groups = command_groups(
        crm, side.keystore, side.read_models, side.blind_index, idempotency, signer
    )
    admin_token = _admin_token(settings)
    side.keystore.follow_destructions(settings.keystore_url)  # last: its thread, once all held
    return Service(
        **vars(groups),
        settings=settings,
        crm=crm,
        keystore=side.keystore,
        keystore_db=side.keystore_db,
        read_models=side.read_models,
        runner=runner,
        signer=signer,
        ledger_signer=ledger_signer,
        blind_index=side.blind_index,
        admin_token=admin_token,
        edge_db=edge_db,
        idempotency=idempotency,
        rate_limiter=rate_limiter,
        metrics=metrics,
        storage_run=StorageRun(side.storage, crm.commit),
    )
