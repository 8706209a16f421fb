"""Consents per purpose and acceptances of privacy-policy versions, per contact."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import Principal, ServiceDep, parse_id, require
from api.fields import PathId
from api.preconditions import set_etag
from api.privacy_schemas import (
    AcceptanceIn,
    AcceptanceOut,
    ConsentIn,
    ConsentOut,
    ConsentsOut,
)
from api.problems import responses
from domain.user import Role
from service.views import consents_view

router = APIRouter(prefix="/v1/contacts", tags=["consents"])

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
    contact_id: PathId, body: ConsentIn, response: Response, service: ServiceDep, caller: Writer
) -> ConsentOut:
    """Grant (``granted: true``) or withdraw consent for one purpose that rests on consent.

    ``policy_version`` must be published (``POST /v1/policies``); without it, the version
    in force is recorded. ``source`` (where the decision came from) is sealed.
    """
    subject = parse_id(contact_id)
    record, decision = service.answer(
        service.consents.decide(
            caller.tenant_id,
            subject,
            caller.actor,
            purpose=body.purpose,
            granted=body.granted,
            policy_version=body.policy_version,
            source=body.source,
        )
    )
    set_etag(response, record.version)
    return ConsentOut(
        contact_id=str(subject),
        purpose=decision.purpose,
        granted=decision.granted,
        policy_version=decision.policy_version,
        source=body.source.strip() if body.source is not None else None,
        decided_at=decision.at,
        recorded_by=decision.actor,
    )


@router.get(
    "/{contact_id}/consents",
    response_model=ConsentsOut,
    responses=responses(401, 403, 404, 410),
)
def read_consents(
    contact_id: PathId, response: Response, service: ServiceDep, caller: Reader
) -> ConsentsOut:
    """The current state of every consent purpose, the full history, and policy acceptances."""
    subject = parse_id(contact_id)
    service.crm.live_contact(caller.tenant_id, subject)
    record = service.consents.record(caller.tenant_id, subject)
    set_etag(response, record.version if record is not None else 0)
    view = consents_view(service.crm, service.read_models, caller.tenant_id, subject)
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
) -> AcceptanceOut:
    """Record that the subject accepted a policy version (by default the one in force)."""
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
    return AcceptanceOut(
        policy_version=acceptance.policy_version,
        source=body.source.strip() if body.source is not None else None,
        at=acceptance.at,
        recorded_by=acceptance.actor,
    )
