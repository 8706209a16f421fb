"""AES-256-GCM with a random 96-bit nonce, the one cipher used for data and for wrapping."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import SealBroken

KEY_BYTES = 32
NONCE_BYTES = 12


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Return nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Open what :func:`encrypt` produced; any change to blob or context raises SealBroken."""
    return decrypt_with(AESGCM(key), blob, associated_data)


def cipher(key: bytes) -> AESGCM:
    """The key set up once, for opening many values under it (:func:`decrypt_with`)."""
    return AESGCM(key)


def decrypt_with(opener: AESGCM, blob: bytes, associated_data: bytes) -> bytes:
    """:func:`decrypt` with a key already set up by :func:`cipher`."""
    if len(blob) < NONCE_BYTES + 16:
        raise SealBroken("sealed value is truncated")
    try:
        return opener.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise SealBroken("sealed value failed authentication") from None
