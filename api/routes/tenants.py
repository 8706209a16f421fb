"""Tenants (platform operator) and their users (tenant admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import NewId, Principal, ServiceDep, require, require_platform
from api.preconditions import set_etag
from api.problems import responses
from api.routing import OneHopRoute
from api.schemas import TenantIn, TenantOut, UserIn, UserOut
from domain.user import Role

router = APIRouter(prefix="/v1", tags=["tenants"], route_class=OneHopRoute)


@router.post(
    "/tenants",
    status_code=201,
    response_model=TenantOut,
    dependencies=[Depends(require_platform)],
    responses=responses(401, 403, 413, 422),
)
def create_tenant(
    body: TenantIn, response: Response, service: ServiceDep, new_id: NewId
) -> TenantOut:
    """Create a tenant and its first admin; the admin token is shown once."""
    tenant, admin = service.answer(service.tenants.create(body.name, new_id))
    set_etag(response, tenant.version)
    return TenantOut(id=str(tenant.id), name=tenant.name, admin_token=admin.token)


@router.post(
    "/users", status_code=201, response_model=UserOut, responses=responses(401, 403, 413, 422)
)
def create_user(
    body: UserIn,
    response: Response,
    service: ServiceDep,
    caller: Annotated[Principal, Depends(require(Role.ADMIN))],
    new_id: NewId,
) -> UserOut:
    """Add a user to the caller's tenant; the token is shown once."""
    issued = service.answer(
        service.tenants.register_user(
            caller.tenant_id,
            caller.actor,
            body.role,
            {"full_name": body.full_name, "email": body.email, "age": body.age},
            body.password,
            new_id,
        )
    )
    set_etag(response, issued.version)
    return UserOut(id=str(issued.user_id), role=body.role, token=issued.token)
