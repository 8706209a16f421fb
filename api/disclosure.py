"""No purpose, no plaintext, over HTTP: each route that opens personal data names its
default purpose, the caller may name a narrower one (``?purpose=``), and the request's one
access record is committed before the answer leaves (DESIGN invariant 12).

:func:`disclosing` is the dependency a route declares (it also puts ``purpose`` in the
OpenAPI document, with the purposes the operation may be used for); the
:class:`DisclosureMiddleware` holds an answer that carries opened values until its record
is durable, and answers 503 instead when the record cannot be kept: no record, no plaintext.
"""

# No ``from __future__ import annotations``: the dependency's parameters are built per
# route (the purposes it may name), and FastAPI must see them as objects, not strings.
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Principal, authenticate
from api.fields import one_of
from api.middleware import send_problem
from api.problems import ProblemError
from api.threads import on_thread
from domain.errors import InvalidField
from domain.purposes import CATALOGUE
from service.bootstrap import Service
from service.disclosure import AccessLog, named_purpose

log = logging.getLogger("crm.api")
ACCESS_LOG = "access_log"  # where the request's AccessLog is kept in the ASGI scope's state

# The purposes a caller may name for ordinary work: every purpose of the privacy policy.
NAMEABLE = tuple(p.code for p in CATALOGUE if not p.system)


def disclosing(
    default: str, named: Sequence[str] = NAMEABLE
) -> Callable[..., Awaitable[AccessLog]]:
    """A dependency: the request's :class:`AccessLog`, for ``default`` unless the caller
    names another of ``named`` with ``?purpose=``."""
    choices = tuple(dict.fromkeys([default, *named]))
    described = (
        f"the purpose the personal data is opened for (default: {default}); a purpose that"
        " rests on consent is refused (409) for a subject without it"
    )

    async def access_log(
        request: Request,
        caller: Annotated[Principal | None, Depends(authenticate)],
        purpose: Annotated[
            str | None, Query(description=described, json_schema_extra=one_of(choices))
        ] = None,
    ) -> AccessLog:
        if caller is None:
            raise ProblemError(403, "forbidden", "Forbidden", "a tenant user's role is needed")
        code = default if purpose is None else purpose
        if code not in choices:
            raise InvalidField("purpose", "is not a purpose this operation may be used for")
        service: Service = request.app.state.service
        route = request.scope.get("route")
        opened = service.access_log(
            tenant_id=caller.tenant_id,
            actor=caller.actor,
            role=caller.role.value,
            purpose=named_purpose(code),
            operation=f"{request.method} {getattr(route, 'path', request.url.path)}",
            request_id=request.scope.get("state", {}).get("request_id"),
        )
        request.scope["state"][ACCESS_LOG] = opened
        return opened

    return access_log


class DisclosureMiddleware:
    """Holds an answer that carries opened personal values until the request's access
    record is committed; an answer that opened nothing passes straight through."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        held: list[Message] = []
        holding = False

        async def hold_until_recorded(message: Message) -> None:
            nonlocal holding
            if message["type"] == "http.response.start":
                opened = state.get(ACCESS_LOG)
                # Only a success carries the values; a problem after an opening carries none.
                succeeded = 200 <= int(message["status"]) < 300
                holding = succeeded and isinstance(opened, AccessLog) and bool(opened.fields)
            if not holding:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._release(state[ACCESS_LOG], held, send)

        await self.app(scope, receive, hold_until_recorded)

    async def _record(self, opened: AccessLog) -> None:
        """Wait for the record on the event loop when group commit takes it (no thread held
        while the batch commits); else commit it on a worker thread."""
        pending = self.service.record_access_soon(opened)
        if pending is None:
            await on_thread(self.service.record_access, opened)
        else:
            await asyncio.wrap_future(pending)

    async def _release(self, opened: AccessLog, held: list[Message], send: Send) -> None:
        try:
            await self._record(opened)
        except Exception as exc:  # the record is owed before the values: no record, no answer
            log.error("access record not kept", extra={"error_type": type(exc).__name__})
            await send_problem(
                send,
                503,
                "access-not-recorded",
                "Service unavailable",
                "the answer could not be recorded in the processing trail; nothing was sent",
                [(b"retry-after", b"1")],
            )
            return
        for message in held:
            await send(message)
