"""Idempotency keys: the first response to a POST, kept 24 hours, sealed, per tenant.

What is stored, and why it holds no readable personal data at rest:
- the client's key only as an HMAC (``key_ref``), so the row does not say which key it is;
- the request only as an HMAC fingerprint of caller, method, target, content type and body
  (the body can be personal: no plain hash of it is kept, a keyed one cannot be guessed at);
- the response (status, the headers worth replaying, body) sealed with AES-256-GCM under a
  key derived from the service's API secret *and the client's idempotency key*. The client's
  key is not stored anywhere, so neither a dump of the database nor a dump plus the service's
  keys opens a stored response: only a retry that presents the key again does;
- the ids the response names (UUIDs, not personal), so erasing a subject purges every
  stored response that mentions it before its window is over. The key stays, marked
  ``purged``, until its window ends: a retry is told the subject is gone (410) rather than
  running again and creating a new record of the erased person.

Two requests with one key race on the primary key: the first inserts a ``pending`` row and
runs; the second sees the row and gets "in progress" (a 409). A pending row whose request
died is taken over after a lease, so a crash never blocks a key for its whole lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from crypto import aead
from crypto.derive import derive_key
from sqlstore.sql import SqlCursor, SqlDatabase

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        namespace TEXT NOT NULL,
        key_ref TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        response TEXT,
        resources TEXT NOT NULL,
        claimed_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (namespace, key_ref)
    )""",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at)",
]

PENDING_LEASE_SECONDS = 60.0  # default; ``CRM_IDEMPOTENCY_LEASE_SECONDS``
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class StoredResponse:
    """What a replay sends back: the first response's status, chosen headers and body, and
    the receipt of the personal data it carried (purpose, operation, subjects and fields:
    ids and codes), since a replay discloses it again and is recorded again."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    receipt: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    """The outcome of presenting a key: run the request, replay, or refuse."""

    outcome: Literal["owned", "replay", "mismatch", "in_progress", "purged"]
    ref: str = ""
    response: StoredResponse | None = None
    claimed_at: float = 0.0
    expires_at: float = 0.0  # fixed when the key is first claimed; scopes what it creates


@dataclass(frozen=True)
class RequestIdentity:
    """The parts of a request that must be equal for a repeat to be the same request."""

    actor: str
    method: str
    path: str
    query: str
    content_type: str
    body: bytes = field(repr=False)


class IdempotencyStore:
    """Claims keys, seals first responses and replays them."""

    def __init__(
        self,
        db: SqlDatabase,
        secret: bytes,
        ttl_seconds: int,
        lease_seconds: float = PENDING_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.lease = lease_seconds
        self.clock = clock
        self._ref_key = derive_key(secret, "idempotency-key-ref")
        self._fingerprint_key = derive_key(secret, "idempotency-fingerprint")
        self._seal_secret = derive_key(secret, "idempotency-seal")

    def create_tables(self) -> None:
        self.db.run_script(SCHEMA)

    def fingerprint(self, request: RequestIdentity) -> str:
        head = orjson.dumps(
            [request.actor, request.method, request.path, request.query, request.content_type]
        )
        mac = hmac.new(self._fingerprint_key, head + b"\n", hashlib.sha256)
        mac.update(request.body)
        return mac.hexdigest()

    def claim(self, namespace: str, key: str, fingerprint: str) -> Claim:
        """Own the key (first use, or an abandoned one), or learn what became of it."""
        ref = self._ref(namespace, key)
        now = self.clock()
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM idempotency_keys WHERE expires_at < :now", {"now": now})
            inserted = cur.execute(
                "INSERT INTO idempotency_keys (namespace, key_ref, fingerprint, state, resources,"
                " claimed_at, expires_at) VALUES (:ns, :ref, :fp, 'pending', '', :now, :expires)"
                " ON CONFLICT (namespace, key_ref) DO NOTHING",
                {
                    "ns": namespace,
                    "ref": ref,
                    "fp": fingerprint,
                    "now": now,
                    "expires": now + self.ttl,
                },
            ).rowcount
            if inserted == 1:
                return Claim("owned", ref, claimed_at=now, expires_at=now + self.ttl)
            return self._existing(cur, namespace, key, ref, fingerprint, now)

    def _existing(
        self, cur: SqlCursor, namespace: str, key: str, ref: str, fingerprint: str, now: float
    ) -> Claim:
        row = cur.execute(
            "SELECT fingerprint, state, response, claimed_at, expires_at FROM idempotency_keys"
            " WHERE namespace = :ns AND key_ref = :ref",
            {"ns": namespace, "ref": ref},
        ).fetchone()
        if row is None:  # released between our insert and this read: the retry may run
            return Claim("in_progress", ref)
        if not hmac.compare_digest(row["fingerprint"], fingerprint):
            return Claim("mismatch", ref)
        if row["state"] == "done":
            return Claim("replay", ref, self._open(namespace, key, ref, row["response"]))
        if row["state"] == "purged":
            return Claim("purged", ref)
        claimed_at = float(row["claimed_at"])
        if claimed_at > now - self.lease:
            return Claim("in_progress", ref)
        taken = cur.execute(
            "UPDATE idempotency_keys SET claimed_at = :now WHERE namespace = :ns"
            " AND key_ref = :ref AND state = 'pending' AND claimed_at = :old",
            {"ns": namespace, "ref": ref, "now": now, "old": claimed_at},
        ).rowcount
        if taken != 1:
            return Claim("in_progress", ref)
        return Claim("owned", ref, claimed_at=now, expires_at=float(row["expires_at"]))

    def complete(self, namespace: str, key: str, claim: Claim, response: StoredResponse) -> None:
        """Keep a successful first response, sealed, with the ids it names."""
        sealed = self._seal(namespace, key, claim.ref, response)
        resources = " ".join(sorted({m.decode().lower() for m in _UUID.findall(response.body)}))
        for _, value in response.headers:
            resources += " " + " ".join(m.decode().lower() for m in _UUID.findall(value.encode()))
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE idempotency_keys SET state = 'done', response = :response,"
                " resources = :resources WHERE namespace = :ns AND key_ref = :ref"
                " AND claimed_at = :claimed",
                {
                    "response": sealed,
                    "resources": f" {resources.strip()} ",
                    "ns": namespace,
                    "ref": claim.ref,
                    "claimed": claim.claimed_at,
                },
            )

    def release(self, namespace: str, claim: Claim) -> None:
        """Forget a claim whose request failed: nothing was stored, a retry may run it."""
        with self.db.transaction() as cur:
            cur.execute(
                "DELETE FROM idempotency_keys WHERE namespace = :ns AND key_ref = :ref"
                " AND state = 'pending' AND claimed_at = :claimed",
                {"ns": namespace, "ref": claim.ref, "claimed": claim.claimed_at},
            )

    def forget_subject(self, namespace: str, subject_id: str) -> int:
        """Purge every stored response that names an erased subject; returns how many. The
        keys stay until they expire, so their retries are answered "gone", never run again."""
        with self.db.transaction() as cur:
            return cur.execute(
                "UPDATE idempotency_keys SET state = 'purged', response = NULL"
                " WHERE namespace = :ns AND state = 'done' AND resources LIKE :pattern",
                {"ns": namespace, "pattern": f"% {subject_id.lower()} %"},
            ).rowcount

    def _ref(self, namespace: str, key: str) -> str:
        message = f"{namespace}\n{key}".encode()
        return hmac.new(self._ref_key, message, hashlib.sha256).hexdigest()

    def _sealing_key(self, namespace: str, key: str) -> bytes:
        return derive_key(self._seal_secret, f"response|{namespace}", salt=key.encode())

    def _seal(self, namespace: str, key: str, ref: str, response: StoredResponse) -> str:
        plaintext = orjson.dumps(
            {
                "status": response.status,
                "headers": response.headers,
                "body": base64.b64encode(response.body).decode(),
                "receipt": response.receipt,
            }
        )
        blob = aead.encrypt(self._sealing_key(namespace, key), plaintext, _context(namespace, ref))
        return base64.b64encode(blob).decode()

    def _open(self, namespace: str, key: str, ref: str, sealed: str) -> StoredResponse:
        plaintext = aead.decrypt(
            self._sealing_key(namespace, key), base64.b64decode(sealed), _context(namespace, ref)
        )
        data = orjson.loads(plaintext)
        headers: Sequence[Sequence[str]] = data["headers"]
        return StoredResponse(
            status=int(data["status"]),
            headers=[(str(k), str(v)) for k, v in headers],
            body=base64.b64decode(data["body"]),
            receipt=data.get("receipt"),
        )


def _context(namespace: str, ref: str) -> bytes:
    return f"crm.idempotency.v1|{namespace}|{ref}".encode()
