"""Ed25519 signatures for erasure certificates (and, later, ledger checkpoints)."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


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


def verify_signature(public_key: str, payload: bytes, signature: str) -> bool:
    """Check a base64 signature against a base64 raw Ed25519 public key."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(signature), payload)
    except (InvalidSignature, ValueError):
        return False
    return True
