"""Consents per purpose and acceptances of privacy-policy versions, per contact."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.disclosure import disclosing
from api.fields import PathId
from api.preconditions import set_etag
from api.privacy_schemas import (
    AcceptanceIn,
    AcceptanceOut,
    ConsentIn,
    ConsentOut,
    ConsentsOut,
    GuardianOut,
)
from api.problems import responses
from api.routing import OneHopRoute
from domain.consent import GUARDIAN_FIELDS, Guardian
from domain.user import Role
from service.disclosure import AccessLog
from service.views import consents_view

router = APIRouter(prefix="/v1/contacts", tags=["consents"], route_class=OneHopRoute)
# A consent's source (where the decision came from) and the guardian who gave it are the
# subject's data: opened, or echoed back, for managing the relationship unless the caller
# names another use. Deciding whether the subject is a child opens their age for it too.
Managing = Annotated[AccessLog, Depends(disclosing("account_management"))]

Writer = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Reader = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.AGENT, Role.PRIVACY_OFFICER, Role.AUDITOR)),
]


@router.post(
    "/{contact_id}/consents",
    status_code=201,
    response_model=ConsentOut,
    responses=responses(401, 403, 404, 409, 410, 413, 422),
)
def decide_consent(
    contact_id: PathId,
    body: ConsentIn,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    access: Managing,
) -> ConsentOut:
    """Grant (``granted: true``) or withdraw consent for one purpose that rests on consent.

    ``policy_version`` must be published (``POST /v1/policies``); without it, the version
    in force is recorded. ``source`` (where the decision came from) and ``guardian`` are
    sealed; the answer carries them back, recorded in the processing trail.

    A child (13 to 17) does not consent alone: their grant needs ``given_by: guardian`` and
    the parent or guardian (409 ``guardian-consent-required`` otherwise). To know, a grant
    the subject gives opens the contact's age, for this request's purpose, and the trail
    records ``age`` among the fields opened; nothing else does: a withdrawal, a guardian's
    grant and a contact without an age (taken as an adult) open no age, so the trail never
    shows an opening the answer did not depend on.
    """
    subject = parse_id(contact_id)
    service.decide(access, subject)  # a restricted subject's consents are not processed
    guardian = (
        Guardian(body.guardian.full_name, body.guardian.relationship)
        if body.guardian is not None
        else None
    )
    record, decision = service.answer(
        service.consents.decide(
            caller.tenant_id,
            subject,
            caller.actor,
            purpose=body.purpose,
            granted=body.granted,
            policy_version=body.policy_version,
            source=body.source,
            access=access,
            given_by=body.given_by,
            guardian=guardian,
        )
    )
    set_etag(response, record.version)
    echoed = ["source"] if body.source is not None else []
    access.returning(subject, [*echoed, *(GUARDIAN_FIELDS if guardian is not None else ())])
    return ConsentOut(
        contact_id=str(subject),
        purpose=decision.purpose,
        granted=decision.granted,
        policy_version=decision.policy_version,
        source=body.source.strip() if body.source is not None else None,
        given_by=decision.given_by,
        guardian=(
            GuardianOut(full_name=guardian.full_name.strip(), relationship=guardian.relationship)
            if guardian is not None
            else None
        ),
        decided_at=decision.at,
        recorded_by=decision.actor,
    )


@router.get(
    "/{contact_id}/consents",
    response_model=ConsentsOut,
    responses=responses(401, 403, 404, 410),
)
def read_consents(
    contact_id: PathId, response: Response, service: ServiceDep, caller: Reader, access: Managing
) -> ConsentsOut:
    """The current state of every consent purpose, the full history, and policy acceptances.
    Each decision's ``source`` and ``guardian`` are opened (and recorded) for
    ``account_management`` unless ``purpose`` names another use; an auditor sees the
    decisions, and who gave them (``given_by``), without their sources or guardians."""
    subject = parse_id(contact_id)
    service.crm.live_contact(caller.tenant_id, subject)
    record = service.consents.record(caller.tenant_id, subject)
    set_etag(response, record.version if record is not None else 0)
    opening = None if caller.role is Role.AUDITOR else access
    view = consents_view(service.crm, service.read_models, caller.tenant_id, subject, opening)
    return ConsentsOut.model_validate(view)


@router.post(
    "/{contact_id}/policy-acceptances",
    status_code=201,
    response_model=AcceptanceOut,
    responses=responses(401, 403, 404, 409, 410, 413, 422),
)
def accept_policy(
    contact_id: PathId,
    body: AcceptanceIn,
    response: Response,
    service: ServiceDep,
    caller: Writer,
    access: Managing,
) -> AcceptanceOut:
    """Record that the subject accepted a policy version (by default the one in force)."""
    service.decide(access, parse_id(contact_id))
    record, acceptance = service.answer(
        service.consents.accept_policy(
            caller.tenant_id,
            parse_id(contact_id),
            caller.actor,
            policy_version=body.policy_version,
            source=body.source,
        )
    )
    set_etag(response, record.version)
    access.returning(parse_id(contact_id), ["source"] if body.source is not None else [])
    return AcceptanceOut(
        policy_version=acceptance.policy_version,
        source=body.source.strip() if body.source is not None else None,
        at=acceptance.at,
        recorded_by=acceptance.actor,
    )
