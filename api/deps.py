"""Request dependencies: the service, the caller (authentication) and what it may do (roles).

A dependency that does no I/O is ``async def``: FastAPI runs a plain ``def`` dependency on a
worker thread, and each such hop cost a read about 0.15 ms of CPU under load (issue 13's
read target). Those that touch the database (:func:`authenticate`) hop to a worker thread
themselves (:func:`api.threads.on_thread`, cheaper than FastAPI's hop), so a slow database
never stalls the event loop.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from fastapi import Depends, Header, Request

from api.fields import is_canonical_uuid
from api.preconditions import expected_version
from api.problems import ProblemError
from api.threads import on_thread
from domain.errors import InvalidField
from domain.user import Role
from projections.principals import principal_row
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


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _lookup(service: Service, token: str) -> Principal | None:
    row = principal_row(service.read_models, token_hash(token))
    if row is None:
        return None
    return Principal(UUID(row["tenant_id"]), UUID(row["user_id"]), Role(row["role"]))


def _is_platform(service: Service, token: str) -> bool:
    return hmac.compare_digest(token.encode(), service.admin_token.encode())


PLATFORM = "platform"


def identify(service: Service, token: str) -> Principal | str | None:
    """The tenant user behind a token, :data:`PLATFORM` for the operator, ``None`` if invalid.

    Shared by :func:`authenticate` and the idempotency middleware, so both agree on who
    is calling. A revoked token has no row any more, in any process reading the table.
    """
    if _is_platform(service, token):
        return PLATFORM
    principal = _lookup(service, token)
    if principal is None:
        # A token issued by another process may not be projected here yet; but a wrong
        # token must not make every request wait or work: only catch up when behind.
        head = service.runner.head()
        if min(service.runner.positions().values(), default=head) < head:
            service.read_your_writes(head)
            principal = _lookup(service, token)
    return principal


def _caller(request: Request, service: Service) -> Principal | str:
    """Who the request's bearer token belongs to; no token or an invalid one is a 401."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ProblemError(
            401, "unauthenticated", "Unauthenticated", "a bearer token is required", _UNAUTHORISED
        )
    caller = identify(service, token)
    if caller is None:
        raise ProblemError(
            401, "unauthenticated", "Unauthenticated", "the token is not valid", _UNAUTHORISED
        )
    return caller


async def authenticate(request: Request) -> Principal | None:
    """The tenant user behind the token, ``None`` for the platform operator, else 401.

    Its only parameter is the request: each dependency FastAPI solves costs every request
    CPU (a security scheme among them the most, with its scope bookkeeping up the chain),
    so the service comes from the app and the bearer scheme is declared in the OpenAPI
    document by :func:`api.openapi.install` for every route that depends on this. The
    token's lookup reads the database, so it runs on a worker thread, through
    :func:`api.threads.on_thread` rather than FastAPI's hop for a plain function.
    """
    service: Service = request.app.state.service
    caller = await on_thread(_caller, request, service)
    if isinstance(caller, str):
        return None
    request.state.tenant_id = str(caller.tenant_id)
    return caller


async def require_platform(caller: Annotated[Principal | None, Depends(authenticate)]) -> None:
    if caller is not None:
        raise ProblemError(403, "forbidden", "Forbidden", "only the platform operator may do this")


def require(*roles: Role) -> Callable[[Principal | None], Awaitable[Principal]]:
    """A dependency admitting tenant users with one of ``roles``."""
    allowed = ", ".join(r.value for r in roles)

    async def check(caller: Annotated[Principal | None, Depends(authenticate)]) -> Principal:
        if caller is None or caller.role not in roles:
            raise ProblemError(403, "forbidden", "Forbidden", f"this needs one of: {allowed}")
        return caller

    return check


async def new_aggregate_id(request: Request) -> UUID:
    """The id of what a POST creates: derived from its ``Idempotency-Key`` (the key's and the
    request's keyed hashes, and the key's expiry) when it has one, so that a re-run after a
    crash collides with the first run instead of creating a duplicate (``CRM.create``), and
    a key used again after it expired creates anew; random otherwise."""
    seed = getattr(request.state, "idempotency_seed", None)
    return uuid5(NAMESPACE_URL, f"crm:created-by:{seed}") if seed else uuid4()


NewId = Annotated[UUID, Depends(new_aggregate_id)]


def body_id(value: str, field: str) -> UUID:
    """An id inside a body: not a canonical UUID is bad input (422); an unknown one is a
    404 later. The schema declares the same pattern, so this only guards against drift."""
    if not is_canonical_uuid(value):
        raise InvalidField(field, "must be a UUID, lower-case with hyphens")
    return UUID(value)


def parse_id(value: str) -> UUID:
    """Path ids that are not UUIDs name nothing: 404, like any unknown id.

    Only the canonical spelling (lower-case, hyphens, no braces or ``urn:uuid:``) names a
    resource, so each resource has one URL: idempotency fingerprints and caches key on it.
    """
    if not is_canonical_uuid(value):
        raise ProblemError(404, "not-found", "Not found", "no resource with that id")
    return UUID(value)


UNMATCHABLE = -1  # what an If-Match that is not one of our version tags expects


async def if_match_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """``If-Match: "<version>"`` on a write, as the version it expects (``None`` if absent);
    the rule itself is :func:`api.preconditions.expected_version`.

    A tag that cannot be one of ours is not refused here, before the body is validated: it
    expects a version no resource has, so the write answers 412 once the body is valid.
    """
    try:
        return expected_version(if_match)
    except ProblemError:
        return UNMATCHABLE


IfMatch = Annotated[int | None, Depends(if_match_version)]


def client_address(request: Request) -> str:
    """The peer address as the server saw it (uvicorn applies trusted proxy headers)."""
    return request.client.host if request.client else "unknown"


def limit_rate(service: Service, request: Request, action: str, tenant_id: object) -> None:
    """Count one attempt at ``action`` per client address and per tenant; 429 past either."""
    settings = service.settings
    for bucket, limit in (
        (f"{action}:ip:{client_address(request)}", settings.auth_rate_per_ip),
        (f"{action}:tenant:{tenant_id}", settings.auth_rate_per_tenant),
    ):
        retry_after = service.rate_limiter.hit(bucket, limit)
        if retry_after is not None:
            raise ProblemError(
                429,
                "rate-limited",
                "Too many requests",
                "too many attempts; retry later",
                {"Retry-After": str(retry_after)},
            )


def _operation(request: Request) -> dict[str, Any] | None:
    """The OpenAPI operation of the matched route (``None`` for a route it does not describe)."""
    route = request.scope.get("route")
    operation: dict[str, Any] | None = (
        request.app.openapi()
        .get("paths", {})
        .get(getattr(route, "path", ""), {})
        .get(request.method.lower())
    )
    return operation


async def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not declare is a 422, not silently ignored: a typo
    such as ``?emial=`` must not turn a lookup into a list of everyone.

    It runs before the route's own dependencies, so on a protected route it checks the token
    first: a caller without one learns nothing about the route but that it needs one (401).
    """
    if not request.query_params or not request.url.path.startswith("/v1/"):
        return
    service: Service = request.app.state.service
    operation = _operation(request)
    if operation is None:
        return
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    if set(request.query_params) - declared:
        if operation.get("security"):
            await on_thread(_caller, request, service)
        raise ProblemError(
            422, "unknown-parameter", "Invalid request", "the query has an unknown parameter"
        )
