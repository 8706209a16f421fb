"""``Idempotency-Key`` on every POST, for every route, present and future (ASGI middleware).

A POST that carries the header and an authenticated caller is run at most once per key and
caller namespace (the caller's tenant, or the platform operator) for 24 hours:
- a repeat with the same caller, target and body gets the first response again (status,
  body, ``Content-Type``, ``Location``, ``ETag``), marked ``Idempotent-Replayed: true``,
  and nothing runs or is stored;
- the same key with another body, target or caller is a 422;
- the same key while the first request still runs is a 409 with ``Retry-After``;
- a key whose first response named a subject since erased is a 410 until the key expires.
Only successful (2xx) responses are kept: a failed request stored nothing, so its retry
runs again. Requests without a valid token pass through untouched (the route answers 401,
or, for a login, needs no caller). How responses are stored: :mod:`service.idempotency`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import PLATFORM, Principal, bearer_token, identify
from api.disclosure import ACCESS_LOG
from api.middleware import send_problem
from api.threads import on_thread
from domain.errors import ProcessingRefused
from service.bootstrap import Service
from service.disclosure import AccessLog, named_purpose
from service.idempotency import Claim, RequestIdentity, StoredResponse

log = logging.getLogger("crm.api")
HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = {"content-type", "location", "etag"}


class IdempotencyMiddleware:
    """Claims the key before the app runs; keeps or releases it once the response is known."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(headers.get("authorization"))
        caller = await on_thread(identify, self.service, token) if token else None
        if caller is None:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            await send_problem(
                send,
                422,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                "the key must be 1 to 255 visible ASCII characters",
            )
            return
        if isinstance(caller, str):
            namespace = actor = PLATFORM
        else:
            namespace, actor = str(caller.tenant_id), str(caller.user_id)
            scope.setdefault("state", {})["tenant_id"] = namespace
        body = await _read_body(receive)
        identity = RequestIdentity(
            actor=actor,
            method="POST",
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            content_type=headers.get("content-type", ""),
            body=body,
        )
        store = self.service.idempotency
        fingerprint = store.fingerprint(identity)
        claim = await on_thread(store.claim, namespace, key, fingerprint)
        if claim.outcome == "owned":
            # What the route creates takes an id derived from this: see deps.new_aggregate_id.
            seed = f"{claim.ref}:{fingerprint}:{claim.expires_at!r}"
            scope["state"]["idempotency_seed"] = seed
            await self._run_once(scope, receive, send, body, namespace, key, claim)
        elif claim.outcome == "replay" and claim.response is not None:
            await self._replay(scope, send, claim.response, caller)
        elif claim.outcome == "purged":
            await send_problem(
                send,
                410,
                "erased",
                "Gone",
                "the first response to this key named a subject that was since erased",
            )
        elif claim.outcome == "mismatch":
            await send_problem(
                send,
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this key was used for a different request",
            )
        else:
            await send_problem(
                send,
                409,
                "idempotency-key-in-use",
                "Request in progress",
                "a request with this key is still running; retry later",
                [(b"retry-after", b"1")],
            )

    async def _replay(
        self, scope: Scope, send: Send, response: StoredResponse, caller: Principal | str
    ) -> None:
        """Send the first response again. If it carried personal values it discloses them
        again: decided anew (a consent withdrawn since refuses it) and recorded anew, by the
        disclosure middleware around this one."""
        if response.receipt is not None:
            again = await on_thread(self._disclosed_again, scope, response.receipt, caller)
            if isinstance(again, ProcessingRefused):
                await send_problem(send, 409, again.code, again.title, str(again))
                return
            scope["state"][ACCESS_LOG] = again
        await _send_stored(send, response)

    def _disclosed_again(
        self, scope: Scope, receipt: dict[str, Any], caller: Principal | str
    ) -> AccessLog | ProcessingRefused:
        state = scope["state"]
        if not isinstance(caller, Principal):
            return ProcessingRefused(receipt["purpose"], "no-basis", "no tenant user")
        again = self.service.access_log(
            tenant_id=caller.tenant_id,
            actor=caller.actor,
            role=caller.role.value,
            purpose=named_purpose(receipt["purpose"]),
            operation=receipt["operation"],
            request_id=state.get("request_id"),
        )
        subjects = {UUID(s): fields for s, fields in receipt["subjects"].items()}
        refused = again.screen(list(subjects))
        if refused:
            subject, reason = next(iter(refused.items()))
            return ProcessingRefused(again.purpose.code, reason)
        for subject, fields in subjects.items():
            again.opened(caller.tenant_id, subject, fields)
        return again

    async def _run_once(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        namespace: str,
        key: str,
        claim: Claim,
    ) -> None:
        """Run the request with the buffered body; keep a 2xx before the client sees it, so
        a retry that follows the response is always a replay, never a 409."""
        store = self.service.idempotency
        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await on_thread(store.release, namespace, claim)
            raise
        response = _stored(captured, receipt(scope))
        try:
            if response is not None and 200 <= response.status < 300:
                await on_thread(store.complete, namespace, key, claim, response)
            else:
                await on_thread(store.release, namespace, claim)
        except Exception as exc:
            # The command itself succeeded and committed: the caller gets its answer. The
            # key stays pending until its lease runs out (see the README's limits).
            log.error(
                "idempotency record not kept",
                extra={"tenant_id": namespace, "error_type": type(exc).__name__},
            )
        for message in captured:
            await send(message)


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the outer middleware bounds its size)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def receipt(scope: Scope) -> dict[str, Any] | None:
    """What the request disclosed, as a replay must disclose (and record) it again."""
    opened = scope.get("state", {}).get(ACCESS_LOG)
    if not isinstance(opened, AccessLog) or not opened.fields:
        return None
    return {
        "purpose": opened.purpose.code,
        "operation": opened.operation,
        "subjects": {str(s): sorted(f) for s, f in opened.fields.items()},
    }


def _stored(messages: list[Message], disclosed: dict[str, Any] | None) -> StoredResponse | None:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:
        return None
    headers = [
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in start.get("headers", [])
        if k.decode("latin-1").lower() in _KEPT_HEADERS
    ]
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return StoredResponse(int(start["status"]), headers, body, disclosed)


async def _send_stored(send: Send, response: StoredResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers += [
        (b"content-length", str(len(response.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
