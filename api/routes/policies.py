"""The purpose catalogue and the tenant's privacy-policy versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import Principal, ServiceDep, require
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, after_position, position_cursor
from api.preconditions import set_etag
from api.privacy_schemas import PolicyIn, PolicyOut, PolicyPage, PurposeOut
from api.problems import responses
from api.routing import OneHopRoute
from domain.purposes import CATALOGUE
from domain.user import Role
from domain.values import parse_time
from projections.policies import published_versions

router = APIRouter(prefix="/v1", tags=["privacy policy"], route_class=OneHopRoute)

AnyRole = Annotated[Principal, Depends(require(*Role))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


@router.get("/purposes", response_model=list[PurposeOut], responses=responses(401, 403))
def purposes(caller: AnyRole) -> list[PurposeOut]:
    """Every use of personal data the privacy policy allows, with its legal basis."""
    return [
        PurposeOut(
            code=p.code,
            legal_basis=p.legal_basis.value,
            requires_consent=p.requires_consent,
            automated_decisions=p.automated,
            description=p.description,
            policy_clause=p.clause,
        )
        for p in CATALOGUE
    ]


@router.post(
    "/policies",
    status_code=201,
    response_model=PolicyOut,
    responses=responses(401, 403, 409, 413, 422),
)
def publish_policy(
    body: PolicyIn, response: Response, service: ServiceDep, caller: Admin
) -> PolicyOut:
    """Publish a version of the tenant's privacy policy; a version is published once (409)."""
    policy = service.answer(
        service.consents.publish_policy(
            caller.tenant_id,
            caller.actor,
            version=body.version,
            effective_at=None
            if body.effective_at is None
            else parse_time(body.effective_at, "effective_at"),
            document_url=body.document_url,
            document_sha256=body.document_sha256,
        )
    )
    published = policy.last_published
    assert published is not None  # the command just published it
    response.headers["Location"] = "/v1/policies"
    set_etag(response, policy.version)
    return PolicyOut(
        version=published.version,
        effective_at=published.effective_at,
        published_at=published.published_at,
        published_by=published.published_by,
        document_url=published.document_url,
        document_sha256=published.document_sha256,
    )


@router.get("/policies", response_model=PolicyPage, responses=responses(401, 403, 422))
def list_policies(
    service: ServiceDep, caller: AnyRole, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> PolicyPage:
    """Published versions in the order they were published, and the one in force now."""
    rows = published_versions(service.read_models, caller.tenant_id, after_position(cursor), limit)
    policy = service.consents.policy(caller.tenant_id)
    current = None if policy is None else policy.current(service.crm.clock())
    return PolicyPage(
        items=[PolicyOut.model_validate(row) for row in rows[:limit]],
        next_cursor=position_cursor(rows, limit),
        current_version=None if current is None else current.version,
    )
