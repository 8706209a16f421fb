"""Service data (a subject's activities) and linked third-party accounts, per contact."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from api.deps import NewId, Principal, ServiceDep, parse_id, require
from api.disclosure import disclosing
from api.fields import PathId
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, after_position, position_cursor
from api.preconditions import set_etag
from api.privacy_schemas import ActivityIn, ActivityOut, ActivityPage, LinkIn, LinkOut, LinkPage
from api.problems import ProblemError, responses
from api.routing import OneHopRoute
from domain.user import Role
from domain.values import parse_time
from projections.activities import activities_of
from projections.activities import activity as activity_row
from projections.linked_accounts import linked_account, linked_accounts_of
from service.bootstrap import Service
from service.disclosure import AccessLog
from service.views import activity_views, linked_account_views

router = APIRouter(prefix="/v1/contacts", tags=["service data"], route_class=OneHopRoute)

Writer = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT, Role.PRIVACY_OFFICER))]
# Service data is opened to run and improve the service; linked handles only to link (consent).
Improving = Annotated[AccessLog, Depends(disclosing("service_improvement"))]
Linking = Annotated[AccessLog, Depends(disclosing("third_party_linking"))]
# Unlinking answers with the handle it stops using: managing the account, after a withdrawal too.
Unlinking = Annotated[AccessLog, Depends(disclosing("account_management"))]


def _projected(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row a command just wrote (the runner caught up before this reads it)."""
    if row is None:  # pragma: no cover - catch_up just applied the event
        raise ProblemError(404, "not-found", "Not found", "no resource with that id")
    return row


def _link_out(service: Service, tenant_id: UUID, link_id: UUID, access: AccessLog) -> LinkOut:
    row = _projected(linked_account(service.read_models, tenant_id, link_id))
    contact_id = UUID(row["contact_id"])
    [view] = linked_account_views(service.crm, tenant_id, contact_id, [row], access)
    return LinkOut.model_validate(view)


@router.post(
    "/{contact_id}/activities",
    status_code=201,
    response_model=ActivityOut,
    responses=responses(401, 403, 404, 410, 413, 422),
)
def record_activity(
    contact_id: PathId,
    body: ActivityIn,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    new_id: NewId,
    access: Improving,
) -> ActivityOut:
    """Record a usage event; its IP, user agent, device, location, referrer and detail are
    sealed with the subject's key, and the answer carries them back (``service_improvement``
    unless ``purpose`` names another use, decided before anything is stored)."""
    subject = parse_id(contact_id)
    service.decide(access, subject)
    activity = service.answer(
        service.service_data.record_activity(
            caller.tenant_id,
            subject,
            caller.actor,
            kind=body.kind,
            occurred_at=None
            if body.occurred_at is None
            else parse_time(body.occurred_at, "occurred_at"),
            details=body.model_dump(exclude={"kind", "occurred_at"}, exclude_none=True),
            activity_id=new_id,
        )
    )
    set_etag(response, activity.version)
    row = _projected(activity_row(service.read_models, caller.tenant_id, activity.id))
    [view] = activity_views(service.crm, caller.tenant_id, subject, [row], access)
    return ActivityOut.model_validate(view)


@router.get(
    "/{contact_id}/activities",
    response_model=ActivityPage,
    responses=responses(401, 403, 404, 410, 422),
)
def list_activities(
    contact_id: PathId,
    service: ServiceDep,
    caller: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    *,
    access: Improving,
) -> ActivityPage:
    """The subject's activities in the order they were recorded, opened for
    ``service_improvement`` unless ``purpose`` names another use."""
    subject = parse_id(contact_id)
    service.crm.live_contact(caller.tenant_id, subject)
    service.decide(access, subject)
    rows = activities_of(
        service.read_models, caller.tenant_id, subject, after_position(cursor), limit
    )
    views = activity_views(service.crm, caller.tenant_id, subject, rows[:limit], access)
    return ActivityPage(
        items=[ActivityOut.model_validate(view) for view in views],
        next_cursor=position_cursor(rows, limit),
    )


@router.post(
    "/{contact_id}/linked-accounts",
    status_code=201,
    response_model=LinkOut,
    responses=responses(401, 403, 404, 409, 410, 413, 422),
)
def link_account(
    contact_id: PathId,
    body: LinkIn,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    new_id: NewId,
    access: Linking,
) -> LinkOut:
    """Link a third-party account; 409 without a current consent for third_party_linking."""
    subject = parse_id(contact_id)
    service.decide(access, subject)
    link = service.answer(
        service.service_data.link_account(
            caller.tenant_id,
            subject,
            caller.actor,
            provider=body.provider,
            handle=body.handle,
            link_id=new_id,
        )
    )
    set_etag(response, link.version)
    response.headers["Location"] = f"/v1/contacts/{subject}/linked-accounts/{link.id}"
    return _link_out(service, caller.tenant_id, link.id, access)


@router.get(
    "/{contact_id}/linked-accounts",
    response_model=LinkPage,
    responses=responses(401, 403, 404, 410, 422),
)
def list_linked_accounts(
    contact_id: PathId,
    service: ServiceDep,
    caller: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    *,
    access: Linking,
) -> LinkPage:
    """Every account linked to the subject, including those since unlinked; the handles
    are opened for ``third_party_linking``, so only while that consent is current."""
    subject = parse_id(contact_id)
    service.crm.live_contact(caller.tenant_id, subject)
    service.decide(access, subject)
    rows = linked_accounts_of(
        service.read_models, caller.tenant_id, subject, after_position(cursor), limit
    )
    views = linked_account_views(service.crm, caller.tenant_id, subject, rows[:limit], access)
    return LinkPage(
        items=[LinkOut.model_validate(view) for view in views],
        next_cursor=position_cursor(rows, limit),
    )


@router.delete(
    "/{contact_id}/linked-accounts/{link_id}",
    response_model=LinkOut,
    responses=responses(401, 403, 404, 409, 410),
)
def unlink_account(
    contact_id: PathId,
    link_id: PathId,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    access: Unlinking,
) -> LinkOut:
    """Unlink an account (an event; the link stays in the history as unlinked). The answer
    carries the handle it stops using, opened for ``account_management``: unlinking must
    work after the linking consent was withdrawn."""
    subject = parse_id(contact_id)
    service.crm.live_contact(caller.tenant_id, subject)
    service.decide(access, subject)
    link = service.answer(
        service.service_data.unlink_account(
            caller.tenant_id, subject, parse_id(link_id), caller.actor
        )
    )
    set_etag(response, link.version)
    return _link_out(service, caller.tenant_id, link.id, access)
