"""Scheduled erasures: a grace period (at most 72 hours) that can be cancelled, then the
same constant-time erasure as an immediate one. ``run_due`` is called by the API's
background sweep and by ``crm erasures run-due``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from crypto.certificates import ErasureCertificate
from projections.store import ReadModelStore
from service.crm import CRM
from service.errors import Gone, NotFound

log = logging.getLogger("crm.erasure")


@dataclass(frozen=True)
class ScheduledErasure:
    id: str
    subject_id: str
    status: str
    due_at: str | None


class ErasureScheduler:
    def __init__(
        self,
        crm: CRM,
        read_models: ReadModelStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crm = crm
        self.read_models = read_models
        self.clock = clock

    def schedule(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        reason: str,
        request_id: str | None,
        grace: timedelta,
    ) -> ScheduledErasure:
        contact = self.crm.contact(tenant_id, contact_id)
        if contact.erased:
            raise Gone("the contact was already erased")
        now = self.clock()
        erasure_id = uuid.uuid4()
        contact.schedule_erasure(
            actor=actor,
            erasure_id=erasure_id,
            due_at=now + grace,
            now=now,
            reason=reason,
            request_id=request_id,
        )
        self.crm.commit(contact)
        return ScheduledErasure(
            str(erasure_id), str(contact_id), "scheduled", (now + grace).isoformat()
        )

    def find(self, tenant_id: UUID, erasure_id: UUID) -> dict[str, Any]:
        rows = self.read_models.query(
            "SELECT * FROM erasures_view WHERE erasure_id = :id AND tenant_id = :tenant",
            {"id": str(erasure_id), "tenant": str(tenant_id)},
        )
        if not rows:
            raise NotFound("no erasure with that id")
        return rows[0]

    def cancel(self, tenant_id: UUID, erasure_id: UUID, actor: str) -> ScheduledErasure:
        row = self.find(tenant_id, erasure_id)
        contact = self.crm.contact(tenant_id, UUID(row["subject_id"]))
        contact.cancel_erasure(actor=actor, erasure_id=str(erasure_id))
        self.crm.commit(contact)
        return ScheduledErasure(str(erasure_id), row["subject_id"], "cancelled", row["due_at"])

    def run_due(self) -> list[ErasureCertificate]:
        """Execute every scheduled erasure whose time has come and that is still pending."""
        rows = self.read_models.query(
            "SELECT erasure_id, tenant_id, subject_id, requested_by, request_id"
            " FROM erasures_view WHERE status = 'scheduled' AND due_at <= :now",
            {"now": self.clock().isoformat()},
        )
        done = []
        for row in rows:
            tenant_id, subject_id = UUID(row["tenant_id"]), UUID(row["subject_id"])
            contact = self.crm.contact(tenant_id, subject_id)
            if contact.erased or contact.scheduled_erasure != row["erasure_id"]:
                continue  # cancelled, or erased some other way, since the view was read
            done.append(
                self.crm.erase_contact(
                    tenant_id,
                    subject_id,
                    row["requested_by"],
                    "scheduled erasure",
                    row["request_id"],
                    erasure_id=UUID(row["erasure_id"]),
                )
            )
            log.info("scheduled erasure executed", extra={"erasure_id": row["erasure_id"]})
        return done


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
