"""Errors of the key and sealing layer. Messages carry ids, never key material or plaintext."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of the crypto layer's errors."""


class KeyDestroyed(CryptoError):
    """The subject's data key was destroyed (the subject is erased): nothing opens any more."""


class SealBroken(CryptoError):
    """A sealed value failed authentication: it was altered, or moved to another context."""


class KeyConfigurationError(CryptoError):
    """A key-encryption or signing key is missing or malformed."""
