"""The OpenAPI document, completed with what the shared machinery adds to every route.

Routes declare the problems their own logic returns (404, 409, 410, 412, 429...). What the
middleware and dependencies add is declared here, from each operation's shape, so a route
added later is described correctly without anyone remembering to: 401 and 403 wherever a
bearer token is required, 413 wherever there is a body, 422 wherever there is a body or
query parameters are checked (every ``/v1`` route), 404 wherever the path names a
resource, and on every POST that needs a token the ``Idempotency-Key`` header with its
409 and 422 (a POST without a caller, a login, has nothing to key a record to).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.deps import authenticate
from api.idempotency import HEADER
from api.problems import PROBLEM_JSON, Problem

BEARER = "bearer"
_BEARER_SCHEME = {"type": "http", "scheme": "bearer"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Run this POST at most once per key for 24 hours; a repeat with the same"
    " body gets the first response again. Use a random UUID.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]+$"},
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def _add(operation: dict[str, Any], status: int, description: str) -> None:
    """Declare a problem response, replacing FastAPI's own 422 (plain JSON, never sent)."""
    responses = operation.setdefault("responses", {})
    declared = responses.get(str(status))
    if declared is None or PROBLEM_JSON not in declared.get("content", {}):
        responses[str(status)] = _problem(description)


def parameters_of(operation: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = operation.get("parameters", [])
    return parameters


def complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Declare the problems and headers the shared machinery adds to one operation."""
    if operation.get("security"):
        _add(operation, 401, "No token, or a token that is not valid (or was revoked)")
        _add(operation, 403, "The caller's role may not do this")
    if "requestBody" in operation:
        _add(operation, 413, "The request body is larger than the configured bound")
    if "requestBody" in operation or path.startswith("/v1/"):
        _add(operation, 422, "The request failed validation (or named an unknown parameter)")
    if "{" in path:
        _add(operation, 404, "No such resource in the caller's tenant")
    if any(p.get("name") == "purpose" and p.get("in") == "query" for p in parameters_of(operation)):
        _add(operation, 409, "The purpose is refused for the subject (errors[0].purpose, .reason)")
        _add(operation, 503, "The access record could not be kept: nothing personal was sent")
    if method == "post" and operation.get("security"):
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER for p in parameters):
            parameters.append(dict(_IDEMPOTENCY_PARAMETER))
        _add(operation, 422, "Invalid Idempotency-Key, or a key reused for another request")
        _add(operation, 409, "A request with this Idempotency-Key is still running")


def _needs_token(dependant: Dependant) -> bool:
    return any(d.call is authenticate or _needs_token(d) for d in dependant.dependencies)


def declare_bearer(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """The bearer scheme on every operation whose route depends on :func:`authenticate`.

    Declared here rather than by a security-scheme dependency, which FastAPI would solve on
    every request of every protected route (:func:`api.deps.authenticate` says why)."""
    paths = schema.get("paths", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not _needs_token(route.dependant):
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{BEARER: []}]
                schema["components"].setdefault("securitySchemes", {})[BEARER] = _BEARER_SCHEME


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Replace ``app.openapi`` with one that completes every operation (``routers``: those
    included in ``app``, whose routes say which operations need a token)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        declare_bearer(schema, [*app.routes, *(r for router in routers for r in router.routes)])
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                complete_operation(path, method, operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
