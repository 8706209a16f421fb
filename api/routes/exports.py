"""Exports: the marketing audience (consent-gated) and a subject's own data (access)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.fields import PathId
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, next_cursor
from api.preconditions import set_etag
from api.privacy_schemas import MarketingPage, SubjectExport
from api.problems import responses
from api.schemas import ContactOut
from domain.user import Role
from service.export import subject_export

router = APIRouter(prefix="/v1", tags=["exports"])

Writer = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Officer = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))]
MARKETING = "marketing"


@router.get("/exports/marketing", response_model=MarketingPage, responses=responses(401, 403, 422))
def marketing_export(
    service: ServiceDep, caller: Writer, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> MarketingPage:
    """Contacts whose consent for marketing is current (granted, not since withdrawn, not
    erased); nobody else is ever in it."""
    page = service.consents.audience(
        caller.tenant_id, MARKETING, after=decode_cursor(cursor) or "", limit=limit
    )
    items = [ContactOut.model_validate(view) for view in page.items]
    return MarketingPage(items=items, next_cursor=next_cursor(page.keys, limit))


@router.get(
    "/contacts/{contact_id}/export",
    response_model=SubjectExport,
    responses=responses(401, 403, 404, 410),
)
def export_subject(
    contact_id: PathId, response: Response, service: ServiceDep, caller: Officer
) -> dict[str, Any]:
    """Everything held about the subject, decrypted, as JSON (the answer to an access
    request): fields and their history, consents, activities, linked accounts, shares
    with the values handed over, and the subject's requests."""
    subject = parse_id(contact_id)
    export = subject_export(service.crm, service.read_models, caller.tenant_id, subject)
    set_etag(response, service.crm.contact(caller.tenant_id, subject).version)
    return export
