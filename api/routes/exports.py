"""Exports: the consent-gated ones (marketing, training data, promotion) and a subject's
own data (access), each opened for its purpose through the decision point."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.disclosure import disclosing
from api.fields import PathId
from api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    after_position,
    decode_cursor,
    next_cursor,
)
from api.preconditions import set_etag
from api.privacy_schemas import (
    ActivityOut,
    MarketingPage,
    PromotedCompany,
    PromotionPage,
    SubjectExport,
    TrainingPage,
)
from api.problems import responses
from api.routing import OneHopRoute
from api.schemas import ContactOut
from domain.purposes import SUBJECT_REQUEST
from domain.user import Role
from service.disclosure import AccessLog
from service.export import subject_export

router = APIRouter(prefix="/v1", tags=["exports"], route_class=OneHopRoute)

Writer = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Officer = Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))]
Marketing = Annotated[AccessLog, Depends(disclosing("marketing", named=()))]
Training = Annotated[AccessLog, Depends(disclosing("training_data", named=()))]
Promotion = Annotated[AccessLog, Depends(disclosing("promotional_logo_use", named=()))]
# What the subject's own access request opens: answering it is a legal obligation.
Answering = Annotated[AccessLog, Depends(disclosing(SUBJECT_REQUEST, named=("legal",)))]


@router.get("/exports/marketing", response_model=MarketingPage, responses=responses(401, 403, 422))
def marketing_export(
    service: ServiceDep,
    caller: Writer,
    access: Marketing,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> MarketingPage:
    """Contacts whose consent for marketing is current (granted, not since withdrawn, not
    erased), opened for ``marketing``; nobody else is ever in it."""
    page = service.exports.audience(
        caller.tenant_id, after=decode_cursor(cursor) or "", limit=limit, access=access
    )
    items = [ContactOut.model_validate(view) for view in page.items]
    return MarketingPage(items=items, next_cursor=next_cursor(page.keys, limit))


@router.get("/exports/training", response_model=TrainingPage, responses=responses(401, 403, 422))
def training_export(
    service: ServiceDep,
    caller: Writer,
    access: Training,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> TrainingPage:
    """Service data for model training: the activities of contacts whose consent for
    ``training_data`` is current, opened for it, in the order they were recorded."""
    page = service.exports.training(
        caller.tenant_id, after=after_position(cursor), limit=limit, access=access
    )
    items = [ActivityOut.model_validate(view) for view in page.items]
    return TrainingPage(items=items, next_cursor=next_cursor(page.keys, limit))


@router.get("/exports/promotion", response_model=PromotionPage, responses=responses(401, 403, 422))
def promotion_export(
    service: ServiceDep,
    caller: Writer,
    access: Promotion,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PromotionPage:
    """The companies that may be named in promotion: each contact's ``company`` where its
    consent for ``promotional_logo_use`` is current (only that field is opened)."""
    page = service.exports.promotion(
        caller.tenant_id, after=decode_cursor(cursor) or "", limit=limit, access=access
    )
    items = [PromotedCompany.model_validate(view) for view in page.items]
    return PromotionPage(items=items, next_cursor=next_cursor(page.keys, limit))


@router.get(
    "/contacts/{contact_id}/export",
    response_model=SubjectExport,
    responses=responses(401, 403, 404, 410),
)
def export_subject(
    contact_id: PathId, response: Response, service: ServiceDep, caller: Officer, access: Answering
) -> dict[str, Any]:
    """Everything held about the subject, decrypted, as JSON (the answer to an access
    request, opened for ``subject_request``): fields and their history, consents,
    activities, linked accounts, shares with the values handed over, the subject's
    requests, and the processing trail (every recorded opening of the subject's data)."""
    subject = parse_id(contact_id)
    service.read_to_head()  # the processing section names every answer given so far
    export = subject_export(service.crm, service.read_models, caller.tenant_id, subject, access)
    set_etag(response, service.crm.contact(caller.tenant_id, subject).version)
    return export
