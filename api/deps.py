"""Request dependencies: the service, the caller (authentication) and what it may do (roles)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request

from api.problems import ProblemError
from domain.errors import InvalidField
from domain.user import Role
from service.bootstrap import Service
from service.credentials import token_hash

_UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="crm"'}


@dataclass(frozen=True)
class Principal:
    """An authenticated tenant user."""

    tenant_id: UUID
    user_id: UUID
    role: Role

    @property
    def actor(self) -> str:
        return str(self.user_id)


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401, "unauthenticated", "Unauthenticated", "a bearer token is required", _UNAUTHORISED
        )
    return token.strip()


def _lookup(service: Service, token: str) -> Principal | None:
    rows = service.read_models.query(
        "SELECT tenant_id, user_id, role FROM principals_view WHERE token_hash = :h",
        {"h": token_hash(token)},
    )
    if not rows:
        return None
    row = rows[0]
    return Principal(UUID(row["tenant_id"]), UUID(row["user_id"]), Role(row["role"]))


def _is_platform(service: Service, token: str) -> bool:
    return hmac.compare_digest(token.encode(), service.admin_token.encode())


def authenticate(request: Request, service: ServiceDep) -> Principal | None:
    """The tenant user behind the token, ``None`` for the platform operator, else 401."""
    token = _bearer(request)
    if _is_platform(service, token):
        return None
    principal = _lookup(service, token)
    if principal is None:
        # A token issued by another process may not be projected here yet.
        service.read_your_writes(service.runner.head())
        principal = _lookup(service, token)
    if principal is None:
        raise ProblemError(
            401, "unauthenticated", "Unauthenticated", "the token is not valid", _UNAUTHORISED
        )
    request.state.tenant_id = str(principal.tenant_id)
    return principal


def require_platform(caller: Annotated[Principal | None, Depends(authenticate)]) -> None:
    if caller is not None:
        raise ProblemError(403, "forbidden", "Forbidden", "only the platform operator may do this")


def require(*roles: Role) -> Callable[[Principal | None], Principal]:
    """A dependency admitting tenant users with one of ``roles``."""
    allowed = ", ".join(r.value for r in roles)

    def check(caller: Annotated[Principal | None, Depends(authenticate)]) -> Principal:
        if caller is None or caller.role not in roles:
            raise ProblemError(403, "forbidden", "Forbidden", f"this needs one of: {allowed}")
        return caller

    return check


def body_id(value: str, field: str) -> UUID:
    """An id inside a body: not a UUID is bad input (422); an unknown one is a 404 later."""
    try:
        return UUID(value)
    except ValueError:
        raise InvalidField(field, "must be a UUID") from None


def parse_id(value: str) -> UUID:
    """Path ids that are not UUIDs name nothing: 404, like any unknown id."""
    try:
        return UUID(value)
    except ValueError:
        raise ProblemError(404, "not-found", "Not found", "no resource with that id") from None


def expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """``If-Match: "<version>"`` on a write, as the version it expects (``None`` if absent)."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError(
            412, "precondition-failed", "Precondition failed", "If-Match must be a version ETag"
        )
    return int(text)


IfMatch = Annotated[int | None, Depends(expected_version)]
