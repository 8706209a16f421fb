"""Contacts: register, read, update, look up by email or phone, erase."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from api.deps import IfMatch, NewId, Principal, ServiceDep, parse_id, require
from api.disclosure import disclosing
from api.fields import Email, PathId, Phone
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, next_cursor
from api.preconditions import IMMUTABLE_VERSION, set_etag
from api.problems import responses
from api.routing import OneHopRoute
from api.schemas import (
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    ErasureCertificateOut,
    ErasureIn,
    ScheduledErasureOut,
)
from domain.contact import PERSONAL_FIELDS, Contact
from domain.user import Role
from service.disclosure import AccessLog

router = APIRouter(prefix="/v1/contacts", tags=["contacts"], route_class=OneHopRoute)

Writer = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT, Role.PRIVACY_OFFICER))]
Officer = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))]
# Contacts are opened to manage the customer relationship, unless the caller names another use.
Managing = Annotated[AccessLog, Depends(disclosing("account_management"))]


def _out(contact: Contact, opened: dict[str, Any]) -> ContactOut:
    return ContactOut(
        id=str(contact.id),
        version=contact.version,
        created_at=contact.created_on,
        updated_at=contact.modified_on,
        **{field: opened.get(field) for field in PERSONAL_FIELDS},
        age_unknown="age" not in contact.fields,
    )


@router.post(
    "", status_code=201, response_model=ContactOut, responses=responses(401, 403, 413, 422)
)
def register_contact(
    body: ContactIn,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    new_id: NewId,
    access: Managing,
) -> ContactOut:
    """Register a contact; the answer carries its values (opened for ``account_management``
    unless ``purpose`` names another use, which is decided before anything is stored)."""
    access.require(new_id)
    contact = service.answer(
        service.contacts.register(
            caller.tenant_id, caller.actor, body.model_dump(exclude_none=True), new_id, access
        )
    )
    set_etag(response, contact.version)
    response.headers["Location"] = f"/v1/contacts/{contact.id}"
    return _out(contact, service.crm.open_contact(contact, access))


@router.get("/{contact_id}", response_model=ContactOut, responses=responses(401, 403, 404, 410))
def read_contact(
    contact_id: PathId, response: Response, service: ServiceDep, caller: Reader, access: Managing
) -> ContactOut:
    """The contact, opened for ``account_management`` unless ``purpose`` names another use."""
    view = service.contacts.read(caller.tenant_id, parse_id(contact_id), access)
    set_etag(response, view["version"])
    return ContactOut.model_validate(view)


@router.patch(
    "/{contact_id}",
    response_model=ContactOut,
    responses=responses(401, 403, 404, 409, 410, 412, 413, 422),
)
def update_contact(
    contact_id: PathId,
    body: ContactPatch,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    expected_version: IfMatch,
    access: Managing,
) -> ContactOut:
    """Change fields; the answer carries the contact's values (``account_management``
    unless ``purpose`` names another use, decided before the change is stored)."""
    contact = service.answer(
        service.contacts.update(
            caller.tenant_id,
            parse_id(contact_id),
            caller.actor,
            body.model_dump(exclude_unset=True),
            expected_version,
            access,
        )
    )
    set_etag(response, contact.version)
    return _out(contact, service.crm.open_contact(contact, access))


@router.get("", response_model=ContactPage, responses=responses(401, 403, 422))
def find_contacts(
    service: ServiceDep,
    caller: Reader,
    email: Email | None = None,
    phone: Phone | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    *,
    access: Managing,
) -> ContactPage:
    """Exact match on the normalised email and/or phone (blind indexes), or every contact,
    opened for ``account_management`` unless ``purpose`` names another use: a contact that
    use is refused for appears as its id and the reason, without values."""
    page = service.contacts.find(
        caller.tenant_id,
        email=email,
        phone=phone,
        after=decode_cursor(cursor) or "",
        limit=limit,
        access=access,
    )
    return ContactPage.model_validate(
        {"items": page.items, "next_cursor": next_cursor(page.keys, limit)}
    )


@router.post(
    "/{contact_id}/erasure",
    response_model=ErasureCertificateOut,
    responses={
        202: {"model": ScheduledErasureOut, "description": "Erasure scheduled"},
        **responses(401, 403, 404, 409, 410, 412, 413, 422),
    },
)
def erase_contact(
    contact_id: PathId,
    body: ErasureIn,
    service: ServiceDep,
    caller: Officer,
    expected_version: IfMatch,
) -> Response:
    """Destroy the subject's key now and return the signed erasure certificate, or, with
    ``grace_period_hours``, schedule it (202, with the schedule's ``id`` that
    ``POST /v1/erasures/{id}/cancel`` takes) so it can still be cancelled.

    Stored idempotent responses that name the subject are deleted too: none of them may
    replay the subject's data after this.
    """
    subject = parse_id(contact_id)
    if body.grace_period_hours is not None:
        scheduled = service.answer(
            service.erasures.schedule(
                caller.tenant_id,
                subject,
                caller.actor,
                body.reason,
                body.request_id,
                timedelta(hours=body.grace_period_hours),
            )
        )
        out: BaseModel = ScheduledErasureOut(**vars(scheduled))
        return _json(out, 202, {"Location": f"/v1/erasures/{scheduled.id}"})
    certificate = service.answer(
        service.erasures.erase(
            caller.tenant_id,
            subject,
            caller.actor,
            body.reason,
            body.request_id,
            expected_version=expected_version,
        )
    )
    out = ErasureCertificateOut.model_validate(certificate.signed(service.signer))
    return _json(out, 200, {"ETag": f'"{IMMUTABLE_VERSION}"'})


def _json(body: BaseModel, status: int, headers: dict[str, str]) -> Response:
    """One answer of a route with two success shapes, each validated by its own model."""
    return Response(body.model_dump_json(), status, headers, media_type="application/json")
