"""The auditor's view of history: stored events in order, personal fields never in clear."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.fields import Id, PathId, Time
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, next_cursor
from api.preconditions import IMMUTABLE_VERSION, set_etag
from api.problems import ProblemError, responses
from api.schemas import AuditEvent, AuditPage, ErasureCertificateOut, ScheduledErasureOut
from domain.user import Role
from domain.values import parse_time
from projections.audit import event_type
from service.audit import (
    ProofError,
    StoreSource,
    current_checkpoint,
    prove_consistency,
    prove_inclusion,
    verify_ledger,
)
from service.bootstrap import Service
from service.erasure import certificate_from_row
from service.replay import contact_state

router = APIRouter(prefix="/v1", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
CertificateReader = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER, Role.AUDITOR))]
Officer = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))]

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


def _audit_event(
    service: Service, tenant_id: UUID, position: int, event: Any, erased: dict[UUID, bool]
) -> AuditEvent:
    sealed: dict[str, str] = getattr(event, "sealed", {}) or {}
    personal: dict[str, str] = {}
    if sealed:
        # Consents, activities, links and shares seal their values under the contact's key.
        subject = event.subject()
        if subject not in erased:
            erased[subject] = service.keystore.is_erased(tenant_id, subject)
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
    contact_id: Id | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    as_of: Time | None = None,
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
        sql += " AND subject_id = :subject"
        params["subject"] = str(parse_id(contact_id))
    if as_of is not None:
        sql += " AND occurred_at <= :as_of"
        params["as_of"] = parse_time(as_of, "as_of").isoformat()  # stored times are UTC
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
    response_model=ErasureCertificateOut | ScheduledErasureOut,
    responses=responses(401, 403, 404),
)
def erasure_certificate(
    erasure_id: PathId, response: Response, service: ServiceDep, caller: CertificateReader
) -> dict[str, Any]:
    """The signed certificate of an executed erasure, with the key that verifies it; for a
    scheduled or cancelled one, its status."""
    row = service.erasures.find(caller.tenant_id, parse_id(erasure_id))
    if row["status"] != "executed":
        return {
            "id": row["erasure_id"],
            "subject_id": row["subject_id"],
            "status": row["status"],
            "due_at": row["due_at"],
        }
    set_etag(response, IMMUTABLE_VERSION)
    return certificate_from_row(row).signed(service.signer)


@router.post(
    "/erasures/{erasure_id}/cancel",
    response_model=ScheduledErasureOut,
    responses=responses(401, 403, 404, 409, 410),
)
def cancel_erasure(erasure_id: PathId, service: ServiceDep, caller: Officer) -> ScheduledErasureOut:
    """Cancel a scheduled erasure before it runs."""
    cancelled = service.answer(
        service.erasures.cancel(caller.tenant_id, parse_id(erasure_id), caller.actor)
    )
    return ScheduledErasureOut(**vars(cancelled))


def _as_of(value: str | None) -> datetime:
    return datetime.now(UTC) if value is None else parse_time(value, "as_of")


@router.get("/audit/contacts/{contact_id}/state", responses=responses(401, 403, 404, 422))
def audit_contact_state(
    contact_id: PathId,
    response: Response,
    service: ServiceDep,
    caller: Auditor,
    as_of: Time | None = None,
) -> dict[str, Any]:
    """The contact as it stood at ``as_of`` (default: now), personal fields masked."""
    state = contact_state(service.crm, caller.tenant_id, parse_id(contact_id), _as_of(as_of))
    set_etag(response, int(state["version"]))
    return state


@router.get("/audit/verify", responses=responses(401, 403))
def audit_verify(response: Response, service: ServiceDep, caller: Auditor) -> dict[str, Any]:
    """Recompute the whole ledger under the service's pinned public key."""
    source = StoreSource(service.crm.ledger_recorder)
    verdict = verify_ledger(source, service.ledger_signer.public_key)
    set_etag(response, verdict.checked)  # the verdict holds for the ledger of this size
    return verdict.as_dict()


@router.get("/audit/checkpoints/latest", responses=responses(401, 403, 404))
def audit_latest_checkpoint(
    response: Response, service: ServiceDep, caller: Auditor
) -> dict[str, Any]:
    """The newest signed checkpoint (tree head) with the key that signed it. Every entry
    is covered within ``CRM_CHECKPOINT_MAX_DELAY_SECONDS``; 404 only while the ledger is
    empty (once it has an entry there is always a checkpoint)."""
    checkpoint = current_checkpoint(service.crm.ledger_recorder)
    if checkpoint is None:
        raise ProblemError(404, "not-found", "Not found", "the ledger has no entry yet")
    set_etag(response, int(checkpoint["size"]))
    return checkpoint


def _own_position(service: Service, tenant_id: UUID, position: int) -> None:
    rows = service.read_models.query(
        "SELECT position FROM audit_timeline WHERE position = :p AND tenant_id = :t",
        {"p": position, "t": str(tenant_id)},
    )
    if not rows:
        raise ProblemError(404, "not-found", "Not found", "no event of yours at that position")


def _proof_problem(exc: ProofError) -> ProblemError:
    return ProblemError(422, "invalid-proof-request", "Invalid proof request", str(exc))


@router.get("/audit/proofs/inclusion", responses=responses(401, 403, 404, 422))
def audit_inclusion_proof(
    response: Response,
    service: ServiceDep,
    caller: Auditor,
    position: Annotated[int, Query(ge=1)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Merkle audit path of the event at ``position`` in the tree of ``size`` entries."""
    _own_position(service, caller.tenant_id, position)
    set_etag(response, IMMUTABLE_VERSION)  # a proof between fixed sizes never changes
    try:
        return prove_inclusion(service.crm.ledger_recorder, position, size)
    except ProofError as exc:
        raise ProblemError(
            422, "invalid-proof-request", "Invalid proof request", str(exc)
        ) from None


@router.get("/audit/proofs/consistency", responses=responses(401, 403, 422))
def audit_consistency_proof(
    response: Response,
    service: ServiceDep,
    caller: Auditor,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """Proof that the tree of ``second`` entries extends the tree of ``first`` entries."""
    set_etag(response, IMMUTABLE_VERSION)
    try:
        return prove_consistency(service.crm.ledger_recorder, first, second)
    except ProofError as exc:
        raise ProblemError(
            422, "invalid-proof-request", "Invalid proof request", str(exc)
        ) from None
