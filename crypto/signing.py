"""Ed25519 signatures for erasure certificates and ledger checkpoints.

Verification takes a :class:`PinnedKey`: the key the verifier chose to trust, parsed and
checked before anything is verified. A signed document also carries the key that signed
it, but that key proves nothing (anyone can sign anything with their own key), so no
verification here ever falls back to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUBLIC_KEY_BYTES = 32


def public_key_fingerprint(public_key: str) -> str:
    """SHA-256 of a public key's raw bytes (not of their base64 text), in hex: the
    fingerprint ``GET /v1/keys`` publishes and signed documents name."""
    return hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()


class KeyNotPinned(ValueError):
    """Verification was asked for without a key to trust (an empty or unset value)."""


class MalformedPublicKey(ValueError):
    """The key to trust is not base64 of a raw 32-byte Ed25519 public key."""


class Signer:
    """Signs bytes; Ed25519 signatures are deterministic, so re-signing gives the same bytes."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def public_key(self) -> str:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode()


@dataclass(frozen=True)
class PinnedKey:
    """An Ed25519 public key a verifier trusts, known to be well formed."""

    key: Ed25519PublicKey
    text: str

    @classmethod
    def parse(cls, text: str | None, what: str = "public key") -> PinnedKey:
        """Refuse a missing, empty, non-base64 or wrong-length key, naming ``what``."""
        if text is None or not text.strip():
            raise KeyNotPinned(
                f"no {what} to trust was given: verification needs the key pinned out of band,"
                " never the one a signed document carries"
            )
        standard = text.strip().replace("-", "+").replace("_", "/")  # URL-safe is fine too
        try:
            raw = base64.b64decode(standard, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedPublicKey(f"the {what} is not valid base64") from None
        if len(raw) != PUBLIC_KEY_BYTES:
            raise MalformedPublicKey(
                f"the {what} must be base64 of {PUBLIC_KEY_BYTES} bytes (a raw Ed25519 key),"
                f" not {len(raw)}"
            )
        return cls(Ed25519PublicKey.from_public_bytes(raw), base64.b64encode(raw).decode())

    def verifies(self, payload: bytes, signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's signature of ``payload``."""
        try:
            self.key.verify(base64.b64decode(signature, validate=True), payload)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True
