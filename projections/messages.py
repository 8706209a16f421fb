"""The Kafka message format of the event stream, and a decoder for its consumers.

Each stored event becomes one message: the key is the aggregate (data subject) id, so one
subject's events stay in order in one partition; the value is the stored bytes exactly as
the event store holds them, so personal fields are still sealed ciphertext; headers carry
the store position (consumers de-duplicate by it), the event's topic and version.

This module needs neither the event store nor the read models. To see personal values a
consumer passes something that opens sealed fields (``crypto.sealer.SubjectSealer`` over
a keystore, or a client of a key service); without it, or once the subject's key is
destroyed, fields come back as :data:`Marker.SEALED` or :data:`Marker.ERASED` markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    Mapper,
    Notification,
    StoredEvent,
    UUIDAsHex,
)

from crypto.errors import KeyDestroyed
from crypto.sealer import Disclosure
from domain.sealing import field_label
from storage.transcoder import OrjsonTranscoder

POSITION = "crm-position"
EVENT_TOPIC = "crm-event-topic"
ORIGINATOR_ID = "crm-originator-id"
ORIGINATOR_VERSION = "crm-originator-version"

Headers = list[tuple[str, bytes]]


class MalformedMessage(ValueError):
    """A record on the topic is not an event message (a header is missing or malformed)."""


class Marker(StrEnum):
    """Stands in for a personal value a consumer cannot see."""

    SEALED = "sealed"  # no opener was given
    ERASED = "erased"  # the subject's key was destroyed: the value is gone for good


class FieldOpener(Protocol):
    """Opens one subject's sealed fields; raises ``KeyDestroyed`` once it was erased."""

    def open_fields(
        self,
        tenant_id: UUID,
        subject_id: UUID,
        fields: dict[str, tuple[int, str]],
        disclosure: Disclosure,
    ) -> dict[str, Any]: ...


class Record(Protocol):
    """What a kafka-python ``ConsumerRecord`` offers (and what tests can build)."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class EventMessage:
    """One event as published: its store position and the stored event itself."""

    position: int
    stored: StoredEvent

    @classmethod
    def from_notification(cls, notification: Notification) -> EventMessage:
        return cls(notification.id, notification)

    @property
    def key(self) -> bytes:
        return str(self.stored.originator_id).encode()

    @property
    def value(self) -> bytes:
        return bytes(self.stored.state)

    @property
    def headers(self) -> Headers:
        return [
            (POSITION, str(self.position).encode()),
            (EVENT_TOPIC, self.stored.topic.encode()),
            (ORIGINATOR_ID, str(self.stored.originator_id).encode()),
            (ORIGINATOR_VERSION, str(self.stored.originator_version).encode()),
        ]

    @classmethod
    def from_record(cls, record: Record) -> EventMessage:
        headers = {name: value for name, value in record.headers}
        try:
            return cls(
                int(headers[POSITION]),
                StoredEvent(
                    originator_id=UUID(headers[ORIGINATOR_ID].decode()),
                    originator_version=int(headers[ORIGINATOR_VERSION]),
                    topic=headers[EVENT_TOPIC].decode(),
                    state=bytes(record.value or b""),
                ),
            )
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise MalformedMessage(f"not an event message: {type(exc).__name__}") from None


def event_transcoder() -> OrjsonTranscoder:
    """The transcoder the event store writes with (``CRM.construct_transcoder``)."""
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@dataclass(frozen=True)
class DecodedEvent:
    """An event as a consumer sees it. ``personal`` maps each sealed field to its value,
    or to a :class:`Marker` when the value cannot (or can no longer) be seen."""

    position: int
    type: str
    aggregate_id: UUID
    version: int
    tenant_id: str | None
    timestamp: datetime | None
    data: dict[str, Any]
    personal: dict[str, Any]

    @property
    def erased(self) -> bool:
        return any(v is Marker.ERASED for v in self.personal.values())


class EventDecoder:
    """Turns messages back into events: domain objects for projections, or plain
    :class:`DecodedEvent` records for anyone else."""

    def __init__(
        self, opener: FieldOpener | None = None, disclosure: Disclosure | None = None
    ) -> None:
        """``opener`` opens personal fields (``SubjectSealer``); it needs the consumer's
        ``disclosure``, which decides and records those openings (no purpose, no plaintext:
        a consumer answers for its own uses, as the service does for its)."""
        if opener is not None and disclosure is None:
            raise ValueError("opening personal fields needs a disclosure that records them")
        self.opener = opener
        self.disclosure = disclosure
        self.mapper: Mapper[UUID] = Mapper(transcoder=event_transcoder())

    def domain_event(self, message: EventMessage) -> Any:
        """The domain event object (its class must be importable here)."""
        return self.mapper.to_domain_event(message.stored)

    def decode(self, record: Record | EventMessage) -> DecodedEvent:
        message = record if isinstance(record, EventMessage) else EventMessage.from_record(record)
        stored = message.stored
        state: dict[str, Any] = self.mapper.transcoder.decode(stored.state)
        sealed: dict[str, str] = state.pop("sealed", None) or {}
        tenant_id = state.get("tenant_id")
        timestamp = state.get("timestamp")
        aggregate_id = UUID(str(stored.originator_id))
        # Values sealed in another aggregate (a consent, an activity...) are the contact's.
        contact = state.get("contact_id")
        subject = UUID(str(contact)) if contact else aggregate_id
        return DecodedEvent(
            position=message.position,
            type=stored.topic.rpartition(":")[2],
            aggregate_id=aggregate_id,
            version=stored.originator_version,
            tenant_id=None if tenant_id is None else str(tenant_id),
            timestamp=timestamp if isinstance(timestamp, datetime) else None,
            data=state,
            personal=self._open(
                tenant_id, subject, aggregate_id, stored.originator_version, sealed
            ),
        )

    def _open(
        self,
        tenant_id: object,
        subject: UUID,
        aggregate_id: UUID,
        version: int,
        sealed: dict[str, str],
    ) -> dict[str, Any]:
        if not sealed:
            return {}
        if self.opener is None or self.disclosure is None or tenant_id is None:
            return dict.fromkeys(sealed, Marker.SEALED)
        fields = {
            field_label(subject, aggregate_id, field): (version, token)
            for field, token in sealed.items()
        }
        try:
            opened = self.opener.open_fields(UUID(str(tenant_id)), subject, fields, self.disclosure)
        except KeyDestroyed:
            return dict.fromkeys(sealed, Marker.ERASED)
        return {field: opened[field_label(subject, aggregate_id, field)] for field in sealed}
