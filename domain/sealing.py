"""The sealing port: how the domain turns a personal value into ciphertext.

The domain knows *that* a value is personal and *where* it goes (tenant, subject, field and
the event that carries it); the implementation in ``crypto/`` knows how.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

PersonalValue = str | int


@dataclass(frozen=True)
class SealContext:
    """Everything a sealed value is bound to (its associated data, invariant 11)."""

    tenant_id: UUID
    subject_id: UUID
    field: str
    event_version: int

    def associated_data(self) -> bytes:
        subject = subject_context(self.tenant_id, self.subject_id)
        return field_context(subject, self.field, self.event_version)


def subject_context(tenant_id: UUID, subject_id: UUID) -> str:
    """What every value of one subject is bound to: computed once when many are opened."""
    return f"crm.sealed.v1|{tenant_id}|{subject_id}|"


def field_context(subject: str, field: str, event_version: int) -> bytes:
    """A :class:`SealContext`'s associated data from its subject's part."""
    return f"{subject}{field}|{event_version}".encode()


class Sealer(Protocol):
    """Seals personal values under their subject's data key."""

    def seal_fields(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        event_version: int,
        values: dict[str, PersonalValue],
    ) -> dict[str, str]:
        """Return one opaque token per field; only the subject's key can open them.

        Each token is bound to ``SealContext(tenant_id, subject_id, field, event_version)``.
        """
        ...


def seal_fields(
    sealer: Sealer,
    tenant_id: UUID,
    subject_id: UUID,
    event_version: int,
    values: dict[str, PersonalValue],
) -> dict[str, str]:
    """Seal nothing when there is nothing to seal (no key is created for an empty record)."""
    if not values:
        return {}
    return sealer.seal_fields(tenant_id, subject_id, event_version, values)


def field_label(subject_id: UUID, aggregate_id: UUID, field: str) -> str:
    """The field name a value is sealed under (part of its associated data).

    A subject's values also live in aggregates other than the subject's own (consents,
    activities, shares): there the label names the aggregate too, so a token cannot be
    moved between two aggregates of one subject that happen to share a field and version.
    """
    return field if aggregate_id == subject_id else f"{field}@{aggregate_id}"


def seal_event_fields(
    sealer: Sealer,
    tenant_id: UUID,
    subject_id: UUID,
    aggregate_id: UUID,
    event_version: int,
    values: dict[str, PersonalValue],
) -> dict[str, str]:
    """Seal values carried by an event of ``aggregate_id`` about ``subject_id``; keys stay plain."""
    labelled = {field_label(subject_id, aggregate_id, f): v for f, v in values.items()}
    sealed = seal_fields(sealer, tenant_id, subject_id, event_version, labelled)
    return {f: sealed[field_label(subject_id, aggregate_id, f)] for f in values}
