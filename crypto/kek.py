"""Key-encryption-key (KEK) providers: the envelope around every data key.

A provider wraps and unwraps data keys; it never hands out its own key. The local provider
keeps the KEK in process memory (from ``CRM_KEK`` or a key file). A KMS or Vault provider
implements the same three members, calling the service's encrypt/decrypt API instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Protocol

from crypto import aead
from crypto.errors import KeyConfigurationError


class KeyEncryptionKeyProvider(Protocol):
    """Wraps data keys under a key it holds. ``kek_id`` names the key new wraps use."""

    @property
    def kek_id(self) -> str: ...

    @property
    def kek_ids(self) -> tuple[str, ...]:
        """Every KEK this provider can unwrap with, the current one first."""
        ...

    def wrap(self, data_key: bytes, associated_data: bytes) -> tuple[str, bytes]:
        """Return (kek_id, wrapped key)."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes: ...


class LocalKeyEncryptionKey:
    """A KEK held in memory. Older KEKs may be supplied so keys wrapped under them still open."""

    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()) -> None:
        for key in (current, *previous):
            if len(key) != aead.KEY_BYTES:
                raise KeyConfigurationError("a key-encryption key must be 32 bytes")
        self._current_id = self.identify(current)
        self._keys = {self.identify(k): k for k in (current, *previous)}

    @staticmethod
    def identify(key: bytes) -> str:
        """A public name for a KEK: a truncated hash, useless for recovering the key."""
        return "kek-" + hashlib.sha256(b"crm.kek.id|" + key).hexdigest()[:16]

    @property
    def kek_id(self) -> str:
        return self._current_id

    @property
    def kek_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def wrap(self, data_key: bytes, associated_data: bytes) -> tuple[str, bytes]:
        key = self._keys[self._current_id]
        return self._current_id, aead.encrypt(key, data_key, associated_data)

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        key = self._keys.get(kek_id)
        if key is None:
            raise KeyConfigurationError(f"key-encryption key {kek_id} is not available")
        return aead.decrypt(key, wrapped, associated_data)


def decode_key(text: str, what: str) -> bytes:
    """Decode a base64 (standard or URL-safe) 32-byte key, with an error that names it."""
    try:
        key = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise KeyConfigurationError(f"{what} is not valid base64") from None
    if len(key) != aead.KEY_BYTES:
        raise KeyConfigurationError(f"{what} must decode to 32 bytes")
    return key


def load_or_create_key_file(path: Path, what: str) -> bytes:
    """Read a base64 key file, creating it (mode 0600) with a random key the first time."""
    if path.exists():
        return decode_key(path.read_text(), f"{what} file {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = aead.new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode() + "\n")
    return key


RETIRED_PREFIX = "retired-"


def retired_key_files(current: Path) -> list[Path]:
    """Retired KEK files beside the current one, kept only until rotation completes."""
    return sorted(current.parent.glob(RETIRED_PREFIX + "*.key"))


def retire_key_file(current: Path) -> Path:
    """Move the current KEK file aside (it still unwraps keys until they are re-wrapped) and
    create a fresh current one."""
    old = decode_key(current.read_text(), f"KEK file {current}")
    retired = current.with_name(f"{RETIRED_PREFIX}{LocalKeyEncryptionKey.identify(old)}.key")
    os.replace(current, retired)
    load_or_create_key_file(current, "CRM_KEK")
    return retired


def shred_file(path: Path) -> None:
    """Overwrite a key file with random bytes, flush it to disk, then unlink it.

    On copy-on-write or journaling file systems the old blocks may survive: keep KEK files
    on storage you can destroy (a tmpfs, an HSM, a KMS), never in backups.
    """
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(os.urandom(max(size, 64)))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
