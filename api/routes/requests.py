"""Data-subject requests (access, rectification, erasure) and their 72-hour deadlines.

A request moves open -> in_progress (``start``) -> done (``complete``), or is rejected
with a reason before it is done. Completing an erasure request erases the contact.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from api.deps import IfMatch, NewId, Principal, ServiceDep, body_id, parse_id, require
from api.disclosure import disclosing
from api.fields import Id, PathId
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, after_position, position_cursor
from api.privacy_schemas import RejectIn, RequestIn, RequestOut, RequestPage, VerificationIn
from api.problems import ProblemError, responses
from api.routing import OneHopRoute
from api.schemas import ErasureCertificateOut
from domain.purposes import SUBJECT_REQUEST
from domain.request import RequestStatus
from domain.user import Role
from domain.values import utc_text
from projections.requests import find_requests
from service.bootstrap import Service
from service.disclosure import AccessLog
from service.views import request_views

router = APIRouter(prefix="/v1/requests", tags=["data-subject requests"], route_class=OneHopRoute)

Handler = Annotated[Principal, Depends(require(Role.ADMIN, Role.PRIVACY_OFFICER))]
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR))]
STEP_RESPONSES = responses(401, 403, 404, 409, 410, 412, 413, 422)
# What completing opens (a rectification's corrections, a portability package) serves the
# subject's own request: a legal obligation, never refused by consent or restriction.
Answering = Annotated[AccessLog, Depends(disclosing(SUBJECT_REQUEST, named=()))]


def request_out(
    service: Service, tenant_id: UUID, request_id: UUID, response: Response
) -> RequestOut:
    rows = find_requests(service.read_models, tenant_id, request_id=request_id)
    if not rows:
        raise ProblemError(404, "not-found", "Not found", "no request with that id")
    response.headers["ETag"] = f'"{rows[0]["version"]}"'
    [view] = request_views(service.read_models, rows, utc_text(service.crm.clock()))
    return RequestOut.model_validate(view)


@router.post(
    "",
    status_code=201,
    response_model=RequestOut,
    responses=responses(401, 403, 404, 410, 413, 422),
)
def receive_request(
    body: RequestIn, response: Response, service: ServiceDep, caller: Handler, new_id: NewId
) -> RequestOut:
    """Receive a request now; it is due 72 hours later (UU PDP: 3x24 hours).

    A parent or guardian (``requested_by: guardian``) acts for a minor and says so with
    ``subject_is_minor: true``.
    """
    request = service.answer(
        service.requests.receive(
            caller.tenant_id,
            caller.actor,
            contact_id=body_id(body.contact_id, "contact_id"),
            kind=body.kind,
            requested_by=body.requested_by,
            subject_is_minor=body.subject_is_minor,
            request_id=new_id,
            purposes=body.purposes,
            changes=None if body.changes is None else body.changes.model_dump(exclude_unset=True),
        )
    )
    response.headers["Location"] = f"/v1/requests/{request.id}"
    return request_out(service, caller.tenant_id, request.id, response)


@router.get("", response_model=RequestPage, responses=responses(401, 403, 404, 422))
def list_requests(
    service: ServiceDep,
    caller: Reader,
    status: Annotated[RequestStatus | None, Query()] = None,
    overdue: bool | None = None,
    contact_id: Id | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> RequestPage:
    """The queue in order of receipt. ``overdue=true``: open or in progress past the deadline;
    ``overdue=false``: everything else."""
    now = utc_text(service.crm.clock())
    rows = find_requests(
        service.read_models,
        caller.tenant_id,
        contact_id=None if contact_id is None else parse_id(contact_id),
        status=None if status is None else status.value,
        overdue=overdue,
        now=now,
        after=after_position(cursor),
        limit=limit,
    )
    return RequestPage(
        items=[
            RequestOut.model_validate(view)
            for view in request_views(service.read_models, rows[:limit], now)
        ],
        next_cursor=position_cursor(rows, limit),
    )


@router.get("/{request_id}", response_model=RequestOut, responses=responses(401, 403, 404))
def read_request(
    request_id: PathId, response: Response, service: ServiceDep, caller: Reader
) -> RequestOut:
    return request_out(service, caller.tenant_id, parse_id(request_id), response)


@router.post("/{request_id}/verify", response_model=RequestOut, responses=STEP_RESPONSES)
def verify_request(
    request_id: PathId,
    body: VerificationIn,
    response: Response,
    service: ServiceDep,
    caller: Handler,
    version: IfMatch,
) -> RequestOut:
    """Record how the requester's identity was verified (open or in progress); a request
    is completed only after it."""
    request = service.answer(
        service.requests.verify(
            caller.tenant_id,
            parse_id(request_id),
            caller.actor,
            method=body.method,
            note=body.note,
            expected_version=version,
        )
    )
    return request_out(service, caller.tenant_id, request.id, response)


@router.post("/{request_id}/start", response_model=RequestOut, responses=STEP_RESPONSES)
def start_request(
    request_id: PathId, response: Response, service: ServiceDep, caller: Handler, version: IfMatch
) -> RequestOut:
    """open -> in_progress."""
    request = service.answer(
        service.requests.start(caller.tenant_id, parse_id(request_id), caller.actor, version)
    )
    return request_out(service, caller.tenant_id, request.id, response)


@router.post("/{request_id}/complete", response_model=RequestOut, responses=STEP_RESPONSES)
def complete_request(
    request_id: PathId,
    response: Response,
    service: ServiceDep,
    caller: Handler,
    version: IfMatch,
    access: Answering,
) -> RequestOut:
    """in_progress -> done, once the identity was verified (409 before). An erasure request
    erases the contact first (its key is destroyed) and the answer carries the signed
    erasure certificate; an information request's answer carries the statement, a
    portability request's the signed package (opened for ``subject_request``)."""
    done = service.answer(
        service.requests.complete(
            caller.tenant_id, parse_id(request_id), caller.actor, access, version
        )
    )
    out = request_out(service, caller.tenant_id, done.request.id, response)
    update: dict[str, object] = {"information": done.information, "package": done.package}
    if done.certificate is not None:
        signed = done.certificate.signed(service.signer)
        update["certificate"] = ErasureCertificateOut.model_validate(signed)
    return out.model_copy(update=update)


@router.post("/{request_id}/reject", response_model=RequestOut, responses=STEP_RESPONSES)
def reject_request(
    request_id: PathId,
    body: RejectIn,
    response: Response,
    service: ServiceDep,
    caller: Handler,
    version: IfMatch,
) -> RequestOut:
    """open or in_progress -> rejected, with a reason (kept in clear: no personal data)."""
    request = service.answer(
        service.requests.reject(
            caller.tenant_id,
            parse_id(request_id),
            caller.actor,
            reason=body.reason,
            expected_version=version,
        )
    )
    return request_out(service, caller.tenant_id, request.id, response)
