"""Purpose-bound keys derived from one service secret (HKDF-SHA256, RFC 5869).

One secret, many uses: each use names itself in ``info``, so a key derived for one purpose
says nothing about the key for another.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: bytes, purpose: str, salt: bytes | None = None) -> bytes:
    """A 256-bit key for ``purpose``; ``salt`` mixes in a value the caller holds (optional)."""
    hkdf = HKDF(hashes.SHA256(), 32, salt=salt, info=b"crm.derive.v1|" + purpose.encode())
    return hkdf.derive(secret)


def key_fingerprint(secret: bytes) -> str:
    """A public name for a secret key, to tell whether two keys are the same: an HMAC under
    the key itself, useless for recovering it."""
    return hmac.new(secret, b"crm.key-fingerprint.v1", hashlib.sha256).hexdigest()[:32]
