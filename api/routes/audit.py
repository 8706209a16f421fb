"""The auditor's view of history: stored events in order, personal fields never in clear."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, next_cursor
from api.preconditions import IMMUTABLE_VERSION, set_etag
from api.problems import ProblemError, responses
from api.schemas import AuditEvent, AuditPage, ErasureCertificateOut
from crypto.certificates import ErasureCertificate
from crypto.errors import KeyDestroyed
from domain.user import Role
from projections.audit import event_type
from service.bootstrap import Service

router = APIRouter(prefix="/v1", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
CertificateReader = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER, Role.AUDITOR))]

# Event attributes that are never shown: credentials, and fields the envelope already gives.
_HIDDEN = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "sealed",
    "token_hash",
    "password_hash",
    "actor",
    "tenant_id",
}


def _subject_erased(service: Service, tenant_id: UUID, subject_id: UUID) -> bool:
    try:
        service.keystore.key_for_opening(tenant_id, subject_id)
    except KeyDestroyed:
        return True
    return False


def _audit_event(
    service: Service, tenant_id: UUID, position: int, event: Any, erased: dict[UUID, bool]
) -> AuditEvent:
    sealed: dict[str, str] = getattr(event, "sealed", {}) or {}
    personal: dict[str, str] = {}
    if sealed:
        subject = event.originator_id
        if subject not in erased:
            erased[subject] = _subject_erased(service, tenant_id, subject)
        marker = "erased" if erased[subject] else "sealed"
        personal = {field: marker for field in sealed}
    return AuditEvent(
        position=position,
        type=event_type(event),
        aggregate_id=str(event.originator_id),
        version=event.originator_version,
        occurred_at=event.timestamp,
        actor=event.actor,
        data={k: v for k, v in vars(event).items() if k not in _HIDDEN},
        personal=personal,
    )


@router.get("/audit/events", response_model=AuditPage, responses=responses(401, 403, 404, 422))
def audit_events(
    service: ServiceDep,
    caller: Auditor,
    contact_id: str | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    as_of: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AuditPage:
    """Events of the caller's tenant, by position; ``cursor`` continues after a page."""
    resume = decode_cursor(cursor)
    if resume is not None:
        if not (resume.isascii() and resume.isdigit()) or len(resume) > 18:
            raise ProblemError(422, "invalid-cursor", "Invalid cursor", "the cursor is not valid")
        after = max(after, int(resume))
    sql = "SELECT position FROM audit_timeline WHERE tenant_id = :tenant AND position > :after"
    params: dict[str, Any] = {"tenant": str(caller.tenant_id), "after": after}
    if contact_id is not None:
        sql += " AND aggregate_id = :subject"
        params["subject"] = str(parse_id(contact_id))
    if as_of is not None:
        if as_of.tzinfo is None:
            raise ProblemError(422, "invalid-time", "Invalid time", "as_of needs a UTC offset")
        sql += " AND occurred_at <= :as_of"
        params["as_of"] = as_of.isoformat()
    rows = service.read_models.query(f"{sql} ORDER BY position LIMIT {limit + 1}", params)
    page = [int(r["position"]) for r in rows[:limit]]
    items: list[AuditEvent] = []
    if page:
        wanted = set(page)
        notifications = service.crm.recorder.select_notifications(
            start=page[0], stop=page[-1], limit=page[-1] - page[0] + 1
        )
        erased: dict[UUID, bool] = {}
        for n in notifications:
            if n.id in wanted:
                event = service.crm.mapper.to_domain_event(n)
                items.append(_audit_event(service, caller.tenant_id, n.id, event, erased))
    return AuditPage(
        items=items, next_cursor=next_cursor([str(r["position"]) for r in rows], limit)
    )


@router.get(
    "/erasures/{erasure_id}",
    response_model=ErasureCertificateOut,
    responses=responses(401, 403, 404),
)
def erasure_certificate(
    erasure_id: str, response: Response, service: ServiceDep, caller: CertificateReader
) -> dict[str, Any]:
    """The signed certificate of one erasure, with the public key that verifies it."""
    rows = service.read_models.query(
        "SELECT * FROM erasures_view WHERE erasure_id = :id AND tenant_id = :tenant",
        {"id": str(parse_id(erasure_id)), "tenant": str(caller.tenant_id)},
    )
    if not rows:
        raise ProblemError(404, "not-found", "Not found", "no erasure with that id")
    row = rows[0]
    certificate = ErasureCertificate(
        erasure_id=row["erasure_id"],
        tenant_id=row["tenant_id"],
        subject_id=row["subject_id"],
        key_id=row["key_id"],
        destroyed_at=row["destroyed_at"],
        erased_by=row["erased_by"],
        request_id=row["request_id"],
        ledger_position=int(row["position"]),
    )
    set_etag(response, IMMUTABLE_VERSION)
    return certificate.signed(service.signer)
