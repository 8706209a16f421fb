"""Sealing and opening personal values with their subject's data key (AES-256-GCM).

A token is ``s1.<key id>.<base64url(nonce || ciphertext || tag)>``. The key id is public; the
associated data (tenant, subject, field, event version) is rebuilt by whoever opens the
token from where it was found, so a token moved anywhere else fails to open.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson

from crypto import aead
from crypto.errors import KeyDestroyed, SealBroken
from crypto.keystore import DataKey, Keystore
from domain.sealing import PersonalValue, SealContext, field_context, subject_context

TOKEN_PREFIX = "s1"  # noqa: S105 - a format tag, not a secret


def parse_token(token: str) -> tuple[str, bytes]:
    """Split a token into (key id, blob); a malformed token is a broken seal."""
    try:
        prefix, key_id, body = token.split(".", 2)
        if prefix != TOKEN_PREFIX:
            raise ValueError(prefix)
        # base64.urlsafe_b64decode, without its two extra passes over the text.
        standard = body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4)
        return key_id, binascii.a2b_base64(standard)
    except ValueError:
        raise SealBroken("sealed value is malformed") from None


class Disclosure(Protocol):
    """Who opens a subject's values, and for what (DESIGN invariant 12: no purpose, no
    plaintext). Every open path takes one: it is asked before anything is unwrapped, so it
    can refuse and nothing is decrypted, and told afterwards what was opened, so it can be
    recorded before the values leave the service."""

    def opening(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        """About to open ``fields`` of the subject; raise to refuse."""

    def opened(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        """``fields`` of the subject were opened."""


class StorageOpenings:
    """A :class:`Disclosure` for openings that keep the data rather than use it (computing
    blind indexes, rebuilding read models): never refused, only counted, so the run that
    made them can be recorded once (what it opened, not each value)."""

    def __init__(self) -> None:
        self.count = 0
        self.fields: set[str] = set()

    def opening(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        return None

    def opened(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        self.count += 1
        self.fields.update(fields)


def plain_field(label: str) -> str:
    """The field a cell's label names (``source@<aggregate>`` is the field ``source``)."""
    return label.split("@", 1)[0]


@dataclass(frozen=True)
class UsedKey:
    """A data key a command sealed under: ids only, never the key; ``created`` when the
    command's sealing made it (rather than finding it in the keystore)."""

    tenant_id: UUID
    subject_id: UUID
    key_id: str
    kek_id: str
    created: bool


class SealingSession:
    """Seals for one command and remembers every key it sealed under.

    The command hands it to the domain as its sealer, then asks it which keys were used, so
    their creation is recorded in the same transaction as the events sealed under them.
    It is explicit state owned by the command (no thread-local bookkeeping).
    """

    def __init__(self, sealer: SubjectSealer) -> None:
        self._sealer = sealer
        self._used: dict[UUID, UsedKey] = {}

    def seal_fields(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        event_version: int,
        values: dict[str, PersonalValue],
    ) -> dict[str, str]:
        data_key = self._sealer.keystore.key_for_sealing(tenant_id, subject_id)
        known = self._used.get(subject_id)
        self._used[subject_id] = UsedKey(
            tenant_id,
            subject_id,
            data_key.key_id,
            data_key.kek_id,
            data_key.created or (known is not None and known.created),
        )
        return seal_with(
            data_key.key_id, data_key.key, tenant_id, subject_id, event_version, values
        )

    @property
    def used_keys(self) -> list[UsedKey]:
        return list(self._used.values())


def seal_with(
    key_id: str,
    key: bytes,
    tenant_id: UUID,
    subject_id: UUID,
    event_version: int,
    values: dict[str, PersonalValue],
) -> dict[str, str]:
    """One token per value, each bound to its context (invariant 11)."""
    sealed = {}
    for field, value in values.items():
        context = SealContext(tenant_id, subject_id, field, event_version)
        blob = aead.encrypt(key, orjson.dumps(value), context.associated_data())
        body = base64.urlsafe_b64encode(blob).rstrip(b"=").decode()
        sealed[field] = f"{TOKEN_PREFIX}.{key_id}.{body}"
    return sealed


class SubjectSealer:
    """Implements the domain's Sealer port on top of a keystore."""

    def __init__(self, keystore: Keystore) -> None:
        self.keystore = keystore

    def session(self) -> SealingSession:
        """A sealer for one command, which collects the keys the command sealed under."""
        return SealingSession(self)

    def seal_fields(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        event_version: int,
        values: dict[str, PersonalValue],
    ) -> dict[str, str]:
        """Seal under the subject's key, created on first use (commands that may create a
        key seal through a :meth:`session`, so its creation gets recorded)."""
        data_key = self.keystore.key_for_sealing(tenant_id, subject_id)
        return seal_with(
            data_key.key_id, data_key.key, tenant_id, subject_id, event_version, values
        )

    def open_fields(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        fields: dict[str, tuple[int, str]],
        disclosure: Disclosure,
    ) -> dict[str, Any]:
        """Open every field of one subject with one key lookup.

        ``fields`` maps a field to (the version of the event that sealed it, its token).
        Raises KeyDestroyed when the subject was erased.
        """
        opened = self.open_cells(tenant_id, subject_id, _cells(fields), disclosure)
        return dict(zip(fields, opened, strict=True))

    def open_cells(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        cells: Sequence[tuple[str, int, str]],
        disclosure: Disclosure,
    ) -> list[Any]:
        """Open (field, event version, token) cells of one subject, in order, with one key
        lookup: the same field may recur, sealed by different events (a history). The
        ``disclosure`` is asked first (it may refuse: then no key is even read) and told
        after.

        Raises KeyDestroyed when the subject was erased.
        """
        if not cells:
            return []
        fields = _plain_fields(cells)
        disclosure.opening(tenant_id, subject_id, fields)
        data_key = self.keystore.key_for_opening(tenant_id, subject_id)
        opened = open_with(data_key, tenant_id, subject_id, cells)
        disclosure.opened(tenant_id, subject_id, fields)
        return opened

    def open_subjects(
        self,
        tenant_id: UUID,
        requests: Sequence[tuple[UUID, dict[str, tuple[int, str]]]],
        disclosure: Disclosure,
    ) -> list[dict[str, Any] | None]:
        """Open many (subject, fields) requests of one tenant, each as :meth:`open_fields`
        would, with one keystore read for all their keys (a rebuild indexes thousands of
        subjects, a page opens hundreds). ``None`` where the subject was erased. The
        disclosure is asked about every request before any key is read, and told about each
        one opened.
        """
        asked = [(subject_id, fields, _cells(fields)) for subject_id, fields in requests]
        named = [_plain_fields(cells) for _, _, cells in asked]
        for (subject_id, _, cells), fields in zip(asked, named, strict=True):
            if cells:
                disclosure.opening(tenant_id, subject_id, fields)
        wanted = [subject_id for subject_id, _, cells in asked if cells]
        keys = self.keystore.keys_for_opening(tenant_id, wanted) if wanted else {}
        return [
            self._open_request(tenant_id, request, names, keys.get(request[0]), disclosure)
            for request, names in zip(asked, named, strict=True)
        ]

    def _open_request(
        self,
        tenant_id: UUID,
        request: tuple[UUID, dict[str, tuple[int, str]], list[tuple[str, int, str]]],
        names: list[str],
        data_key: DataKey | None,
        disclosure: Disclosure,
    ) -> dict[str, Any] | None:
        subject_id, fields, cells = request
        if not cells:
            return {}
        if data_key is None:
            return None
        try:
            opened = open_with(data_key, tenant_id, subject_id, cells)
        except KeyDestroyed:
            return None
        disclosure.opened(tenant_id, subject_id, names)
        return dict(zip(fields, opened, strict=True))


def _cells(fields: dict[str, tuple[int, str]]) -> list[tuple[str, int, str]]:
    return [(field, version, token) for field, (version, token) in fields.items()]


def _plain_fields(cells: Sequence[tuple[str, int, str]]) -> list[str]:
    return list(dict.fromkeys(plain_field(field) for field, _, _ in cells))


def open_with(
    data_key: DataKey, tenant_id: UUID, subject_id: UUID, cells: Sequence[tuple[str, int, str]]
) -> list[Any]:
    """Open (field, event version, token) cells with the subject's key, each bound to the
    context it was found in. Raises KeyDestroyed for a token sealed under another key."""
    opened = []
    opener = aead.cipher(data_key.key)  # one key set-up and one context prefix per subject
    subject = subject_context(tenant_id, subject_id)
    for field, version, token in cells:
        key_id, blob = parse_token(token)
        if key_id != data_key.key_id:
            raise KeyDestroyed(f"subject {subject_id}: token sealed under another key")
        context = field_context(subject, field, version)
        opened.append(orjson.loads(aead.decrypt_with(opener, blob, context)))
    return opened
