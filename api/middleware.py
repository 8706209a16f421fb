"""ASGI middleware: request ids, access logs, latency, a bound on body size, security headers.

It is the outermost layer, so it also turns any exception that escaped the app into a
plain 500 problem (with the headers and request id every response carries) and logs it
with the request and tenant ids and the exception's type only, never its message.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from fastapi import HTTPException
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("crm.access")
error_log = logging.getLogger("crm.api")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]

# The console's policy: its own scripts, styles and API only; no inline code, no other
# origin, no framing, no forms posting anywhere, no <base>. Trusted Types make any
# string-to-HTML sink (innerHTML and the like) throw, so markup can only be built as nodes.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none';"
    " require-trusted-types-for 'script'; trusted-types 'none'"
)
CONSOLE_PREFIX = "/console"

# Any other method (clients may send any token) is counted as "other": one label value
# per method a client invents would grow the metric without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """The request body went past the configured bound (an HTTP error, so FastAPI lets it by)."""

    def __init__(self) -> None:
        super().__init__(413, "the request body exceeds the configured limit")


class ServiceMiddleware:
    """Wraps every request: assigns an id, bounds the body, adds headers, logs the outcome
    and times it in ``latency`` (by method, route template and status class)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, latency: Histogram | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _too_large(send, request_id)
            self._log(scope, 413, started, request_id)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                headers = list(message.get("headers", []))
                headers += [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]
                if _is_console(scope):
                    headers.append((b"content-security-policy", CONSOLE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_with_headers)
        except BodyTooLarge:
            if not status["sent"]:
                await _too_large(send, request_id)
            status["code"] = 413
        except Exception as exc:
            self._log_error(scope, exc, request_id)
            if not status["sent"]:
                await send_problem(
                    send_with_headers,
                    500,
                    "internal",
                    "Internal error",
                    "the server failed; the error was logged",
                )
            status["code"] = 500
        self._log(scope, status["code"], started, request_id)

    def _log_error(self, scope: Scope, exc: Exception, request_id: str) -> None:
        state: dict[str, Any] = scope.get("state", {})
        route = scope.get("route")
        error_log.error(
            "unhandled error",
            extra={
                "request_id": request_id,
                "tenant_id": state.get("tenant_id"),
                "route": getattr(route, "path", None) or "unmatched",
                # The type only: messages and tracebacks can quote personal values.
                "error_type": type(exc).__name__,
            },
        )

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        state: dict[str, Any] = scope.get("state", {})
        seconds = time.perf_counter() - started
        # The route template, not the path: no ids or query values in logs or metrics.
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "tenant_id": state.get("tenant_id"),
            },
        )
        if self.latency is not None:
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self.latency.labels(method, route, f"{status // 100}xx").observe(seconds)


def _is_console(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


async def send_problem(
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An RFC 9457 problem sent straight from ASGI middleware (no FastAPI below it)."""
    body = orjson.dumps(
        {"type": f"urn:crm:problem:{code}", "title": title, "status": status, "detail": detail}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _too_large(send: Send, request_id: str) -> None:
    await send_problem(
        send,
        413,
        "body-too-large",
        "Request body too large",
        "the request body exceeds the configured limit",
        [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())],
    )
