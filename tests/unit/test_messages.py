"""The Kafka message format and the consumers' decoder, in memory: no database, no broker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from eventsourcing.persistence import Mapper, Notification

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.contact import Contact
from projections.messages import (
    POSITION,
    EventDecoder,
    EventMessage,
    MalformedMessage,
    Marker,
    event_transcoder,
)
from tests.witness import WITNESS

TENANT = uuid.uuid4()
DETAILS = {"full_name": "Ratna Sari Dewi", "email": "ratna.dewi@contoh.id", "age": 41}


@dataclass
class Record:
    """What a kafka-python consumer hands out: key, value and headers."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def published(keystore: InMemoryKeystore) -> tuple[Contact, list[Record]]:
    """A contact registered and updated, as the relay would publish its two events."""
    sealer = SubjectSealer(keystore)
    contact = Contact.register(tenant_id=TENANT, actor="agent", details=DETAILS, sealer=sealer)
    contact.update(actor="agent", changes={"job_title": "Manajer"}, sealer=sealer)
    mapper: Mapper[Any] = Mapper(transcoder=event_transcoder())
    records = []
    for position, event in enumerate(contact.collect_events(), start=41):
        stored = mapper.to_stored_event(event)
        message = EventMessage.from_notification(Notification(id=position, **vars(stored)))
        records.append(Record(message.key, message.value, message.headers))
    return contact, records


def test_messages_are_keyed_by_subject_and_carry_their_position() -> None:
    contact, records = published(InMemoryKeystore())
    assert {r.key for r in records} == {str(contact.id).encode()}
    assert [dict(r.headers)[POSITION] for r in records] == [b"41", b"42"]
    for record in records:
        assert DETAILS["full_name"].encode() not in record.value


def test_decoder_opens_personal_fields_with_the_subjects_key() -> None:
    keystore = InMemoryKeystore()
    contact, records = published(keystore)
    decoder = EventDecoder(SubjectSealer(keystore), WITNESS)

    registered, updated = (decoder.decode(r) for r in records)

    assert registered.personal == DETAILS
    assert updated.personal == {"job_title": "Manajer"}
    assert (registered.type, registered.position, registered.version) == (
        "Contact.Registered",
        41,
        1,
    )
    assert registered.aggregate_id == contact.id and registered.tenant_id == str(TENANT)
    assert registered.timestamp is not None and not registered.erased


def test_decoder_returns_erased_markers_for_a_subject_whose_key_is_gone() -> None:
    keystore = InMemoryKeystore()
    contact, records = published(keystore)
    keystore.destroy(TENANT, contact.id, "erasure-1")

    decoded = [EventDecoder(SubjectSealer(keystore), WITNESS).decode(r) for r in records]

    assert decoded[0].personal == dict.fromkeys(DETAILS, Marker.ERASED)
    assert decoded[1].personal == {"job_title": Marker.ERASED}
    assert all(event.erased for event in decoded)
    assert decoded[0].data["actor"] == "agent"  # the rest of the event is still there


def test_decoder_without_keys_marks_personal_fields_sealed() -> None:
    _, records = published(InMemoryKeystore())
    decoded = EventDecoder().decode(records[0])
    assert decoded.personal == dict.fromkeys(DETAILS, Marker.SEALED)
    assert "sealed" not in decoded.data


def test_record_without_event_headers_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        EventDecoder().decode(Record(b"k", b"{}", [(POSITION, b"not a number")]))
