"""Data shares with third parties: request, PIC approval, authorisation, execution, revocation.

Each step is an event. A step out of order, an expired authorisation or a missing consent
is a 409 problem and records nothing.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from api.deps import IfMatch, NewId, Principal, ServiceDep, body_id, parse_id, require
from api.disclosure import disclosing
from api.fields import Id, PathId
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, after_position, position_cursor
from api.privacy_schemas import AuthorizeIn, RevokeIn, ShareIn, ShareOut, SharePage
from api.problems import ProblemError, responses
from api.routing import OneHopRoute
from domain.user import Role
from domain.values import parse_time
from projections.shares import find_shares
from service.bootstrap import Service
from service.disclosure import AccessLog
from service.views import share_view

router = APIRouter(prefix="/v1/shares", tags=["data shares"], route_class=OneHopRoute)

Requester = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Pic = Annotated[Principal, Depends(require(Role.PIC))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Revoker = Annotated[Principal, Depends(require(Role.ADMIN, Role.PIC))]
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT, Role.PIC, Role.AUDITOR))]
STEP_RESPONSES = responses(401, 403, 404, 409, 410, 412, 413, 422)
# Executing opens the values to hand over: first decided for sharing itself.
Sharing = Annotated[AccessLog, Depends(disclosing("third_party_sharing", named=()))]


def share_out(service: Service, tenant_id: UUID, share_id: UUID, response: Response) -> ShareOut:
    rows = find_shares(service.read_models, tenant_id, share_id=share_id)
    if not rows:
        raise ProblemError(404, "not-found", "Not found", "no share with that id")
    response.headers["ETag"] = f'"{rows[0]["version"]}"'
    return ShareOut.model_validate(share_view(rows[0]))


@router.post(
    "", status_code=201, response_model=ShareOut, responses=responses(401, 403, 404, 410, 413, 422)
)
def request_share(
    body: ShareIn, response: Response, service: ServiceDep, caller: Requester, new_id: NewId
) -> ShareOut:
    """Ask to share named fields of a contact with a recipient, for a catalogue purpose
    (refused for a subject restricted or objecting for it, or for sharing itself)."""
    contact_id = body_id(body.contact_id, "contact_id")
    for purpose in dict.fromkeys(["third_party_sharing", body.purpose]):
        service.check_limits(caller.tenant_id, contact_id, purpose)
    share = service.answer(
        service.shares.request(
            caller.tenant_id,
            caller.actor,
            contact_id=contact_id,
            recipient=body.recipient,
            purpose=body.purpose,
            fields=body.fields,
            share_id=new_id,
        )
    )
    response.headers["Location"] = f"/v1/shares/{share.id}"
    return share_out(service, caller.tenant_id, share.id, response)


@router.post("/{share_id}/approve", response_model=ShareOut, responses=STEP_RESPONSES)
def approve_share(
    share_id: PathId, response: Response, service: ServiceDep, caller: Pic, version: IfMatch
) -> ShareOut:
    """Step A: the tenant's PIC approves the request."""
    share = service.answer(
        service.shares.approve(caller.tenant_id, parse_id(share_id), caller.actor, version)
    )
    return share_out(service, caller.tenant_id, share.id, response)


@router.post("/{share_id}/authorize", response_model=ShareOut, responses=STEP_RESPONSES)
def authorize_share(
    share_id: PathId,
    body: AuthorizeIn,
    response: Response,
    service: ServiceDep,
    caller: Admin,
    version: IfMatch,
) -> ShareOut:
    """Step B, after A: the authorisation under the agreement with the recipient."""
    expires_at = None if body.expires_at is None else parse_time(body.expires_at, "expires_at")
    share = service.answer(
        service.shares.authorize(
            caller.tenant_id,
            parse_id(share_id),
            caller.actor,
            agreement_ref=body.agreement_ref,
            expires_at=expires_at,
            expected_version=version,
        )
    )
    return share_out(service, caller.tenant_id, share.id, response)


@router.post("/{share_id}/execute", response_model=ShareOut, responses=STEP_RESPONSES)
def execute_share(
    share_id: PathId,
    response: Response,
    service: ServiceDep,
    caller: Requester,
    version: IfMatch,
    access: Sharing,
) -> ShareOut:
    """Hand the fields over: needs approval, a current authorisation and the subject's
    consent for third_party_sharing (and for the share's purpose, if that rests on
    consent). The answer carries the values shared; they are opened for the share's
    purpose and recorded in the processing trail as handed over."""
    share, shared = service.answer(
        service.shares.execute(caller.tenant_id, parse_id(share_id), caller.actor, access, version)
    )
    out = share_out(service, caller.tenant_id, share.id, response)
    return out.model_copy(update={"shared": shared})


@router.post("/{share_id}/revoke", response_model=ShareOut, responses=STEP_RESPONSES)
def revoke_share(
    share_id: PathId,
    response: Response,
    service: ServiceDep,
    caller: Revoker,
    version: IfMatch,
    body: Annotated[RevokeIn | None, Body()] = None,
) -> ShareOut:
    """Revoke the share at any step; its authorisation no longer allows anything."""
    share = service.answer(
        service.shares.revoke(
            caller.tenant_id,
            parse_id(share_id),
            caller.actor,
            reason=None if body is None else body.reason,
            expected_version=version,
        )
    )
    return share_out(service, caller.tenant_id, share.id, response)


@router.get("/{share_id}", response_model=ShareOut, responses=responses(401, 403, 404))
def read_share(
    share_id: PathId, response: Response, service: ServiceDep, caller: Reader
) -> ShareOut:
    """One share with every step taken (the values shared are not shown here)."""
    return share_out(service, caller.tenant_id, parse_id(share_id), response)


@router.get("", response_model=SharePage, responses=responses(401, 403, 404, 422))
def list_shares(
    service: ServiceDep,
    caller: Reader,
    contact_id: Id | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> SharePage:
    """The tenant's shares (or one contact's) in the order they were requested."""
    rows = find_shares(
        service.read_models,
        caller.tenant_id,
        contact_id=None if contact_id is None else parse_id(contact_id),
        after=after_position(cursor),
        limit=limit,
    )
    return SharePage(
        items=[ShareOut.model_validate(share_view(row)) for row in rows[:limit]],
        next_cursor=position_cursor(rows, limit),
    )
