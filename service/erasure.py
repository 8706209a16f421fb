"""Erasure: destroy the subject's key, then record it, whatever races it (invariant 13).

Erasing is two writes in two databases: the key is destroyed in the keystore first (so a
failure in between leaves the data erased, never readable), then ``Contact.Erased`` and
``SubjectKey.Destroyed`` are appended to the event store. Once the key is gone the erasure
must be recorded, so the append is retried on the contact's new head when a concurrent
writer took its next version, and with a short back-off when the store fails; a process
that dies in between leaves the keystore row marked unrecorded, and :meth:`Erasures.recover`
(run by every sweep) records it then. Stored idempotent responses that name the subject
are purged with it, whichever path erased it.

Scheduled erasures wait out a grace period (at most 72 hours) that can be cancelled, then
run the same constant-time erasure. ``run_due`` is called by the API's background sweep and
by ``crm erasures run-due``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from crypto.certificates import ErasureCertificate
from crypto.keystore import Destruction
from crypto.sql_keystore import SqlKeystore
from domain.contact import Contact
from domain.errors import SubjectErased, VersionMismatch
from domain.keys import PLATFORM, SubjectKey, subject_key_id
from projections.store import ReadModelStore
from service.crm import CRM, Committed, ContactHead
from service.errors import CommitFailed, ConcurrentWrite, NotFound
from service.idempotency import IdempotencyStore

log = logging.getLogger("crm.erasure")

STORE_RETRIES = 5  # attempts while the store fails, with back-off, before answering 503
RECOVERED_REASON = "erasure recorded on recovery: the key was destroyed, the record interrupted"


@dataclass(frozen=True)
class ScheduledErasure:
    id: str
    subject_id: str
    status: str
    due_at: str | None


class Erasures:
    """Erase now or later, cancel, run what is due, and recover interrupted erasures."""

    def __init__(
        self,
        crm: CRM,
        keystore: SqlKeystore,
        read_models: ReadModelStore,
        responses: IdempotencyStore,
    ) -> None:
        self.crm = crm
        self.keystore = keystore
        self.read_models = read_models
        self.responses = responses

    def erase(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        reason: str,
        request_id: str | None,
        *,
        erasure_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> Committed[ErasureCertificate]:
        """Destroy the subject's key and record it, in time that does not depend on how many
        events the contact has: only its first and last events are read."""
        head = self.crm.contact_head(tenant_id, contact_id)
        if head.erased:
            raise SubjectErased("the contact was already erased")
        if expected_version is not None and expected_version != head.version:
            raise VersionMismatch(expected_version, head.version)
        reason = Contact.erasure_reason(reason)  # refused before anything is destroyed
        destruction = self.keystore.destroy(tenant_id, contact_id, str(erasure_id or uuid.uuid4()))
        certificate = self._record(tenant_id, contact_id, destruction, actor, reason, request_id)
        return Committed(certificate, certificate.ledger_position)

    def _record(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        destruction: Destruction,
        actor: str,
        reason: str,
        request_id: str | None,
    ) -> ErasureCertificate:
        """Append the erasure on the contact's current head until it is stored. Nothing can
        seal under the destroyed key any more, so only writes that need no key can race it;
        each loss moves the head on by one, and the next attempt is built on it."""
        failures = 0
        while True:
            head = self.crm.contact_head(tenant_id, contact_id)
            if head.erased:
                return self._already_recorded(contact_id, head, destruction)
            records: list[Any] = [
                Contact.erasure_recorded(
                    contact_id=contact_id,
                    tenant_id=str(tenant_id),
                    last_version=head.version,
                    already_erased=False,
                    actor=actor,
                    erasure_id=UUID(destruction.erasure_id),
                    key_id=destruction.key_id,
                    destroyed_at=destruction.destroyed_at.isoformat(),
                    reason=reason,
                    request_id=request_id,
                ),
                *self._key_destruction(tenant_id, contact_id, destruction, actor),
            ]
            try:
                positions = self.crm.commit_events(records)
            except ConcurrentWrite:
                continue
            except CommitFailed:
                failures += 1
                if failures >= STORE_RETRIES:
                    raise  # the sweep's recovery records it once the store answers again
                time.sleep(0.05 * 2**failures)
                continue
            self._recorded(tenant_id, contact_id)
            return certificate_of(records[0], min(positions))

    def _key_destruction(
        self, tenant_id: UUID, subject_id: UUID, destruction: Destruction, actor: str
    ) -> list[SubjectKey.Destroyed]:
        """``SubjectKey.Destroyed`` unless the store already has it (decided by the store, not
        by whether this call destroyed the key: a retry after a failure must record it)."""
        if destruction.key_id == "none":
            return []
        key_record = subject_key_id(subject_id)
        if key_record in self.crm.ledger_recorder.aggregates_at_version([key_record], 2):
            return []
        return [
            SubjectKey.destroyed(
                tenant_id=tenant_id,
                subject_id=subject_id,
                key_id=destruction.key_id,
                erasure_id=UUID(destruction.erasure_id),
                actor=actor,
            )
        ]

    def _already_recorded(
        self, contact_id: UUID, head: ContactHead, destruction: Destruction
    ) -> ErasureCertificate:
        """Someone recorded the erasure first: a racing erasure (of this very destruction,
        then this caller gets its certificate too) or another one (then it is gone)."""
        recorded = head.last_event
        if not isinstance(recorded, Contact.Erased) or recorded.erasure_id != (
            destruction.erasure_id
        ):
            raise SubjectErased("the contact was already erased")
        self._recorded(UUID(recorded.tenant_id), contact_id)
        return certificate_of(recorded, self.crm.position_of(contact_id, head.version))

    def _recorded(self, tenant_id: UUID, contact_id: UUID) -> None:
        """The erasure is in the store: no stored response may replay the subject's data, and
        recovery can leave the keystore row alone."""
        self.responses.forget_subject(str(tenant_id), str(contact_id))
        self.keystore.mark_recorded(contact_id)

    def refence(self) -> int:
        """Destroy again every key that a keystore restored from a backup holds for a subject
        whose erasure the event store records (invariant 10: no copy brings one back).
        Cheap while the counts agree; when the keystore has fewer destroyed keys than there
        are recorded erasures, walks the erasures to find the keys that came back."""
        executed = self.read_models.query(
            "SELECT COUNT(*) AS n FROM erasures_view WHERE status = 'executed' AND key_id <> 'none'"
        )[0]["n"]
        if self.keystore.destroyed_count() >= int(executed):
            return 0
        refenced, after = 0, ""
        while rows := self.read_models.query(
            "SELECT erasure_id, tenant_id, subject_id FROM erasures_view WHERE status = 'executed'"
            " AND key_id <> 'none' AND subject_id > :after ORDER BY subject_id LIMIT 500",
            {"after": after},
        ):
            after = rows[-1]["subject_id"]
            back = self.keystore.live_among([r["subject_id"] for r in rows])
            for row in (r for r in rows if r["subject_id"] in back):
                subject = UUID(row["subject_id"])
                self.keystore.destroy(UUID(row["tenant_id"]), subject, row["erasure_id"])
                self.keystore.mark_recorded(subject)
                refenced += 1
        if refenced:
            log.warning("keys of erased subjects destroyed again", extra={"count": refenced})
        return refenced

    def recover(self) -> list[ErasureCertificate]:
        """Record every erasure whose key is destroyed but whose events were never stored
        (a process killed in between, or a keystore from before this bookkeeping)."""
        recovered = []
        for row in self.keystore.unrecorded_erasures():
            tenant_id, subject_id = UUID(row["tenant_id"]), UUID(row["subject_id"])
            try:
                head = self.crm.contact_head(tenant_id, subject_id)
            except NotFound:
                log.warning("destroyed key of no contact", extra={"subject_id": str(subject_id)})
                self.keystore.mark_recorded(subject_id)
                continue
            if head.erased:
                self._recorded(tenant_id, subject_id)
                continue
            destruction = self.keystore.destroy(tenant_id, subject_id, str(uuid.uuid4()))
            recovered.append(
                self._record(tenant_id, subject_id, destruction, PLATFORM, RECOVERED_REASON, None)
            )
            log.warning(
                "interrupted erasure recorded", extra={"erasure_id": destruction.erasure_id}
            )
        return recovered

    def schedule(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        reason: str,
        request_id: str | None,
        grace: timedelta,
    ) -> Committed[ScheduledErasure]:
        """Erase after ``grace``, unless cancelled first."""
        contact = self.crm.live_contact(tenant_id, contact_id)
        now = self.crm.clock()
        erasure_id = uuid.uuid4()
        contact.schedule_erasure(
            actor=actor,
            erasure_id=erasure_id,
            due_at=now + grace,
            now=now,
            reason=reason,
            request_id=request_id,
        )
        due_at = (now + grace).isoformat()
        scheduled = ScheduledErasure(str(erasure_id), str(contact_id), "scheduled", due_at)
        return self.crm.committed(scheduled, contact)

    def find(self, tenant_id: UUID, erasure_id: UUID) -> dict[str, Any]:
        rows = self.read_models.query(
            "SELECT * FROM erasures_view WHERE erasure_id = :id AND tenant_id = :tenant",
            {"id": str(erasure_id), "tenant": str(tenant_id)},
        )
        if not rows:
            raise NotFound("no erasure with that id")
        return rows[0]

    def cancel(self, tenant_id: UUID, erasure_id: UUID, actor: str) -> Committed[ScheduledErasure]:
        row = self.find(tenant_id, erasure_id)
        contact = self.crm.contact(tenant_id, UUID(row["subject_id"]))
        contact.cancel_erasure(actor=actor, erasure_id=str(erasure_id))
        cancelled = ScheduledErasure(str(erasure_id), row["subject_id"], "cancelled", row["due_at"])
        return self.crm.committed(cancelled, contact)

    def run_due(self) -> list[ErasureCertificate]:
        """Execute every scheduled erasure whose time has come and that is still pending,
        after recording any erasure an interruption left unrecorded and destroying again any
        key a restored keystore brought back."""
        self.refence()
        done = self.recover()
        rows = self.read_models.query(
            "SELECT erasure_id, tenant_id, subject_id, requested_by, request_id"
            " FROM erasures_view WHERE status = 'scheduled' AND due_at <= :now",
            {"now": self.crm.clock().isoformat()},
        )
        for row in rows:
            tenant_id, subject_id = UUID(row["tenant_id"]), UUID(row["subject_id"])
            contact = self.crm.contact(tenant_id, subject_id)
            if contact.erased or contact.scheduled_erasure != row["erasure_id"]:
                continue  # cancelled, or erased some other way, since the view was read
            done.append(
                self.erase(
                    tenant_id,
                    subject_id,
                    row["requested_by"],
                    "scheduled erasure",
                    row["request_id"],
                    erasure_id=UUID(row["erasure_id"]),
                ).value
            )
            log.info("scheduled erasure executed", extra={"erasure_id": row["erasure_id"]})
        return done


def certificate_of(event: Contact.Erased, position: int) -> ErasureCertificate:
    """The certificate an erasure event stands for, at its position in the log."""
    return ErasureCertificate(
        erasure_id=event.erasure_id,
        tenant_id=event.tenant_id,
        subject_id=str(event.originator_id),
        key_id=event.key_id,
        destroyed_at=event.destroyed_at,
        erased_by=event.actor,
        request_id=event.request_id,
        ledger_position=position,
    )


def certificate_from_row(row: dict[str, Any]) -> ErasureCertificate:
    return ErasureCertificate(
        erasure_id=row["erasure_id"],
        tenant_id=row["tenant_id"],
        subject_id=row["subject_id"],
        key_id=row["key_id"],
        destroyed_at=row["destroyed_at"],
        erased_by=row["erased_by"],
        request_id=row["request_id"],
        ledger_position=int(row["position"]),
    )
