"""RFC 9457 problem responses: every error the API returns, in one shape, from one place."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from crypto.errors import KeyDestroyed
from domain.errors import (
    AuthorisationExpired,
    DomainError,
    ErasurePending,
    IdentityNotVerified,
    InvalidField,
    MinorNotAllowed,
    PolicyVersionExists,
    ProcessingRefused,
    SubjectErased,
    TransitionNotAllowed,
    VersionMismatch,
)
from service.errors import CommitFailed, ConcurrentWrite, NotFound
from service.settings import SettingsError

log = logging.getLogger("crm.api")
PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidField, 422),
    (MinorNotAllowed, 422),
    (VersionMismatch, 412),
    (ConcurrentWrite, 409),
    (ErasurePending, 409),
    (ProcessingRefused, 409),
    (IdentityNotVerified, 409),
    (TransitionNotAllowed, 409),
    (AuthorisationExpired, 409),
    (PolicyVersionExists, 409),
    (NotFound, 404),
    (SubjectErased, 410),
    (CommitFailed, 503),
]


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raised by routes and dependencies for errors that are not domain rules (401, 403...)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers or {}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:crm:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route can return."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Problem"}
        for status in statuses
    }


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)
    errors = None
    if isinstance(exc, InvalidField | MinorNotAllowed):
        errors = [{"field": getattr(exc, "field", None), "rule": exc.code}]
    elif isinstance(exc, ProcessingRefused):
        errors = [{"purpose": exc.purpose, "reason": exc.reason, "rule": exc.code}]
    headers = {"Retry-After": "1"} if isinstance(exc, CommitFailed) else None
    return problem(status, exc.code, exc.title, str(exc), errors=errors, headers=headers)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Pydantic's errors without the ``input`` and ``ctx`` they carry: inputs may be personal."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg"),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]
    return problem(
        422, "validation", "Invalid request", "the request failed validation", errors=errors
    )


def _key_destroyed(request: Request, exc: Exception) -> JSONResponse:
    """A destroyed key met anywhere below (sealing, opening, a fence): the subject is erased.
    Translated here once, to the one erased problem; its message names ids only, and is
    not repeated (the subject id is the caller's own path)."""
    return _domain_error(request, SubjectErased("the subject was erased"))


def _problem_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers)


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@lru_cache(maxsize=256)
def _template(path: str) -> re.Pattern[str]:
    """A path template of the OpenAPI document (``/v1/contacts/{contact_id}``) as a regex."""
    parts = re.split(r"\{[^/{}]+\}", path)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def allowed_methods(request: Request, fallback: str) -> str:
    """Every method the request's path supports, for ``Allow`` (RFC 9110 section 15.5.6).

    The router's own 405 names only the route that matched first, and a path such as
    ``/v1/contacts/{contact_id}`` has one route per method: the document lists them all.
    ``fallback`` is for paths the document leaves out.
    """
    path = request.scope["path"]
    methods = {
        method.upper()
        for template, item in request.app.openapi().get("paths", {}).items()
        if _template(template).fullmatch(path)
        for method in item
        if method in _METHODS
    }
    return ", ".join(sorted(methods)) or fallback


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode. Bad input is a 422 here (API.md).
        return problem(422, "malformed-body", "Invalid request", "the body could not be read")
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    title = titles.get(exc.status_code, "HTTP error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
    return problem(
        exc.status_code, f"http-{exc.status_code}", title, str(exc.detail), headers=headers
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The exception's message is not logged: it could quote personal data.
    log.error(
        "unhandled error",
        extra={"error_type": type(exc).__name__, "path": request.url.path},
    )
    return problem(500, "internal", "Internal error", "the server failed; the error was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(KeyDestroyed, _key_destroyed)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SettingsError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
