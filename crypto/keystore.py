"""The keystore port: one data key per subject, stored only wrapped, destroyed for erasure.

A subject's key record is also its erasure fence (invariant 10): destroying a key keeps the
record, with the key material removed, so no later command, in flight or replayed, can
create a new key for an erased subject. The database implementation is
:class:`crypto.sql_keystore.SqlKeystore`; :class:`InMemoryKeystore` keeps the same rules for
unit tests of the domain.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from threading import Lock
from uuid import UUID

from crypto import aead
from crypto.errors import KeyDestroyed


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key, held only in memory while sealing or opening."""

    key_id: str
    key: bytes
    kek_id: str = ""
    created: bool = False


@dataclass(frozen=True)
class PendingErasure:
    """An erasure whose key may still be recoverable from a backup: the KEK it was last
    wrapped under has not been destroyed yet."""

    tenant_id: str
    subject_id: str
    key_id: str
    destroyed_at: str
    wrapped_under: str
    complete_by: str


@dataclass(frozen=True)
class Destruction:
    """What destroying a subject's key did: which key, when, whether it had been before, and
    the erasure it was destroyed for (the first one's, when it had been)."""

    key_id: str
    destroyed_at: datetime
    already_destroyed: bool
    erasure_id: str


def wrap_context(tenant_id: UUID, subject_id: UUID, key_id: str) -> bytes:
    return f"crm.datakey.v1|{tenant_id}|{subject_id}|{key_id}".encode()


class Keystore(ABC):
    """Finds, creates and destroys subjects' data keys."""

    @abstractmethod
    def key_for_sealing(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        """The subject's key, created on first use. Raises KeyDestroyed once erased."""

    @abstractmethod
    def key_for_opening(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        """The subject's existing key. Raises KeyDestroyed if erased or never created."""

    def keys_for_opening(self, tenant_id: UUID, subject_ids: Sequence[UUID]) -> dict[UUID, DataKey]:
        """The existing keys of many subjects, for opening in bulk; the erased (and those
        never keyed, or of another tenant) are left out rather than raised."""
        found = {}
        for subject_id in dict.fromkeys(subject_ids):
            try:
                found[subject_id] = self.key_for_opening(tenant_id, subject_id)
            except KeyDestroyed:
                continue
        return found

    def is_erased(self, tenant_id: UUID, subject_id: UUID) -> bool:
        """Whether the subject's key is destroyed (or belongs to another tenant): the fence
        every command about a subject checks, whether or not it needs the key."""
        try:
            self.key_for_opening(tenant_id, subject_id)
        except KeyDestroyed:
            return True
        return False

    @abstractmethod
    def destroy(self, tenant_id: UUID, subject_id: UUID, erasure_id: str) -> Destruction:
        """Remove the key material for good and fence the subject, for ``erasure_id``.
        Idempotent: destroying again answers with the first destruction."""

    def mark_recorded(self, subject_id: UUID) -> None:  # noqa: B027 - optional bookkeeping
        """Note that the erasure's events are stored, so recovery can leave it alone."""


class InMemoryKeystore(Keystore):
    """A keystore for unit tests of the domain: same rules, no persistence."""

    def __init__(self) -> None:
        self._keys: dict[UUID, tuple[UUID, DataKey | None]] = {}
        self._destructions: dict[UUID, Destruction] = {}
        self._lock = Lock()

    def key_for_sealing(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        with self._lock:
            created = subject_id not in self._keys
            if created:
                key = DataKey(uuid.uuid4().hex, aead.new_key(), "in-memory")
                self._keys[subject_id] = (tenant_id, key)
        found = self.key_for_opening(tenant_id, subject_id)
        return replace(found, created=created)

    def key_for_opening(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        owner, key = self._keys.get(subject_id, (tenant_id, None))
        if key is None or owner != tenant_id:
            raise KeyDestroyed(f"subject {subject_id} has no data key")
        return key

    def destroy(self, tenant_id: UUID, subject_id: UUID, erasure_id: str) -> Destruction:
        with self._lock:
            owner, key = self._keys.get(subject_id, (tenant_id, None))
            if owner != tenant_id:
                raise KeyDestroyed(f"subject {subject_id} belongs to another tenant")
            first = self._destructions.get(subject_id)
            if first is not None:
                return replace(first, already_destroyed=True)
            self._keys[subject_id] = (owner, None)
            destruction = Destruction(key.key_id if key else "none", utc_now(), False, erasure_id)
            self._destructions[subject_id] = destruction
            return destruction


def utc_now() -> datetime:
    return datetime.now(UTC)


def destruction_at(
    destroyed_at: str, key_id: str, erasure_id: str, *, already: bool
) -> Destruction:
    return Destruction(key_id, datetime.fromisoformat(destroyed_at), already, erasure_id)
