"""The auditor's view of history: stored events in order, personal fields never in clear."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.fields import Id, PathId, Time, one_of
from api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    after_position,
    decode_cursor,
    next_cursor,
)
from api.preconditions import IMMUTABLE_VERSION, set_etag
from api.privacy_schemas import AccessPage, AccessRecordOut
from api.problems import ProblemError, responses
from api.routing import OneHopRoute
from api.schemas import AuditEvent, AuditPage, ErasureCertificateOut, ScheduledErasureOut
from domain.purposes import CATALOGUE
from domain.user import Role
from domain.values import parse_time
from service.audit import (
    ProofError,
    StoreSource,
    current_checkpoint,
    prove_consistency,
    prove_inclusion,
    verify_ledger,
)
from service.disclosure import named_purpose
from service.erasure import certificate_from_row
from service.replay import contact_state

router = APIRouter(prefix="/v1", tags=["audit"], route_class=OneHopRoute)
PURPOSES = [p.code for p in CATALOGUE]

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
CertificateReader = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER, Role.AUDITOR))]
Officer = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))]


TrailReader = Annotated[Principal, Depends(require(Role.AUDITOR, Role.PRIVACY_OFFICER))]
PurposeCode = Annotated[
    str, Query(description="one purpose of the catalogue", json_schema_extra=one_of(PURPOSES))
]


@router.get("/audit/access", response_model=AccessPage, responses=responses(401, 403, 422))
def access_trail(
    service: ServiceDep,
    caller: TrailReader,
    contact_id: Id | None = None,
    actor: Id | None = None,
    purpose: PurposeCode | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    as_of: Time | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AccessPage:
    """The processing trail (UU PDP Pasal 31): every recorded opening of personal data in
    the caller's tenant, in log order, by subject, actor (a user id), purpose and time.
    Records hold ids and codes only, and stay after an erasure."""
    if purpose is not None:
        named_purpose(purpose)
    service.read_to_head()
    page = service.trail.records(
        caller.tenant_id,
        subject_id=None if contact_id is None else parse_id(contact_id),
        actor=actor,
        purpose=purpose,
        after=max(after, after_position(cursor)),
        as_of=None if as_of is None else parse_time(as_of, "as_of"),
        limit=limit,
    )
    items = [AccessRecordOut.model_validate(item) for item in page.items]
    return AccessPage(items=items, next_cursor=next_cursor(page.keys, limit))


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
    page = service.timeline.events(
        caller.tenant_id,
        subject_id=None if contact_id is None else parse_id(contact_id),
        after=after,
        as_of=None if as_of is None else parse_time(as_of, "as_of"),
        limit=limit,
    )
    items = [AuditEvent.model_validate(item) for item in page.items]
    return AuditPage(items=items, next_cursor=next_cursor(page.keys, limit))


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
    service.timeline.require_own(caller.tenant_id, position)
    set_etag(response, IMMUTABLE_VERSION)  # a proof between fixed sizes never changes
    try:
        return prove_inclusion(service.crm.ledger_recorder, position, size)
    except ProofError as exc:
        raise _proof_problem(exc) from None


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
        raise _proof_problem(exc) from None
