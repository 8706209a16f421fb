"""Blind indexes: keyed HMACs of normalised values, for exact-match lookup without plaintext.

Each tenant gets its own HMAC key, derived from the index secret, so equal values in two
tenants do not produce equal digests. Digests live only in read-model rows that erasure
deletes (invariant 9), never in events.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.derive import key_fingerprint


class BlindIndex:
    """Computes per-tenant, per-kind digests of normalised values."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._tenant_key = lru_cache(maxsize=1024)(self._derive)

    def _derive(self, tenant_id: UUID) -> bytes:
        hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"crm.blind-index.v1|" + tenant_id.bytes)
        return hkdf.derive(self._secret)

    def fingerprint(self) -> str:
        """The index key's public name: indexes made under another key never match."""
        return key_fingerprint(self._secret)

    def digest(self, tenant_id: UUID, kind: str, normalised: str) -> str:
        key = self._tenant_key(tenant_id)
        return hmac.new(key, f"{kind}|{normalised}".encode(), hashlib.sha256).hexdigest()
