"""Logins and token revocation: the two ways a token starts and stops working."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from api.deps import Principal, ServiceDep, limit_rate, parse_id, require
from api.fields import PathId, is_canonical_uuid
from api.preconditions import set_etag
from api.problems import ProblemError, responses
from api.routing import OneHopRoute
from api.schemas import SessionIn, SessionOut
from domain.user import Role
from service.sessions import log_in

router = APIRouter(prefix="/v1", tags=["sessions"], route_class=OneHopRoute)

_BAD_LOGIN = ProblemError(
    401,
    "unauthenticated",
    "Unauthenticated",
    "tenant, email or password is not valid",
    {"WWW-Authenticate": 'Bearer realm="crm"'},
)


def _tenant_id(text: str) -> UUID | None:
    """The tenant a login names; any other spelling of its id names none (one id, one URL)."""
    return UUID(text) if is_canonical_uuid(text) else None


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionOut,
    responses=responses(401, 413, 422, 429),
)
def create_session(
    body: SessionIn, request: Request, response: Response, service: ServiceDep
) -> SessionOut:
    """Log in with tenant id, email and password: a new bearer token, shown once.

    Attempts are limited per client address and per tenant (429 with ``Retry-After``).
    """
    tenant_id = _tenant_id(body.tenant_id)
    limit_rate(service, request, "login", tenant_id or "unknown")
    committed = log_in(service, tenant_id, body.email, body.password) if tenant_id else None
    if tenant_id is None or committed is None:
        raise _BAD_LOGIN
    issued = service.answer(committed)
    user = service.tenants.user(tenant_id, issued.user_id)
    set_etag(response, issued.version)
    return SessionOut(user_id=str(user.id), role=user.role.value, token=issued.token)


@router.delete(
    "/users/{user_id}/tokens",
    status_code=204,
    responses=responses(401, 403, 404, 409, 429),
)
def revoke_tokens(
    user_id: PathId,
    request: Request,
    service: ServiceDep,
    caller: Annotated[Principal, Depends(require(Role.ADMIN))],
) -> Response:
    """Revoke every token of a user of the caller's tenant, at once and in every process."""
    limit_rate(service, request, "revoke", caller.tenant_id)
    service.answer(service.tenants.revoke_tokens(caller.tenant_id, parse_id(user_id), caller.actor))
    return Response(status_code=204)
