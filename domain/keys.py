"""Key lifecycle as events: a subject's data key created and destroyed, KEK rotations.

The events name keys by id only; key material never enters the store. A subject's key
aggregate has a deterministic id, so its destruction is recorded without a lookup.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import TenantAggregate

PLATFORM = "platform"


def subject_key_id(subject_id: UUID) -> UUID:
    """The id of the aggregate that records the life of ``subject_id``'s data key."""
    return uuid5(NAMESPACE_URL, f"crm:subject-key:{subject_id}")


class SubjectKey(TenantAggregate):
    """The data key of one subject: created on first use, destroyed on erasure."""

    class Event(TenantAggregate.Event):
        subject_id: str

        def subject(self) -> UUID:
            return UUID(self.subject_id)

    class Created(Event, TenantAggregate.Created):
        key_id: str
        kek_id: str

    class Destroyed(Event):
        key_id: str
        erasure_id: str

    def __init__(
        self, tenant_id: str, actor: str, subject_id: str, key_id: str, kek_id: str
    ) -> None:
        self.tenant_id = tenant_id
        self.subject_id = subject_id
        self.key_id = key_id

    @classmethod
    def created(
        cls, *, tenant_id: UUID, subject_id: UUID, key_id: str, kek_id: str, actor: str
    ) -> SubjectKey:
        return cls._create(
            cls.Created,
            id=subject_key_id(subject_id),
            tenant_id=str(tenant_id),
            actor=actor,
            subject_id=str(subject_id),
            key_id=key_id,
            kek_id=kek_id,
        )

    @staticmethod
    def destroyed(
        *, tenant_id: UUID, subject_id: UUID, key_id: str, erasure_id: UUID, actor: str
    ) -> SubjectKey.Destroyed:
        """Version 2 always: a key is created once (version 1) and destroyed once."""
        return SubjectKey.Destroyed(  # type: ignore[call-arg]
            originator_id=subject_key_id(subject_id),
            originator_version=2,
            timestamp=SubjectKey.Destroyed.create_timestamp(),
            tenant_id=str(tenant_id),
            actor=actor,
            subject_id=str(subject_id),
            key_id=key_id,
            erasure_id=str(erasure_id),
        )


class KekRotation(TenantAggregate):
    """One rotation of the key-encryption key: every live data key re-wrapped."""

    class Completed(TenantAggregate.Created):
        from_kek_ids: list[str]
        to_kek_id: str
        rewrapped: int

    def __init__(
        self, tenant_id: str, actor: str, from_kek_ids: list[str], to_kek_id: str, rewrapped: int
    ) -> None:
        self.to_kek_id = to_kek_id
        self.rewrapped = rewrapped

    @classmethod
    def completed(cls, *, from_kek_ids: list[str], to_kek_id: str, rewrapped: int) -> KekRotation:
        return cls._create(
            cls.Completed,
            tenant_id=PLATFORM,
            actor=PLATFORM,
            from_kek_ids=sorted(from_kek_ids),
            to_kek_id=to_kek_id,
            rewrapped=rewrapped,
        )
