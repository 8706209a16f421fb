"""Snapshots of contacts, in memory: what they hold, what their signature binds, when
they are due, and the setting that spaces them (the stores' side is in
``tests/integration/test_snapshots.py``)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, Mapper, UUIDAsHex

from crypto.errors import SealBroken
from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from crypto.signing import PinnedKey, Signer
from domain.contact import Contact
from service.settings import Settings, SettingsError
from storage.snapshots import due, snapshot_payload
from storage.transcoder import OrjsonTranscoder
from tests.witness import WITNESS

TENANT = uuid.uuid4()


@pytest.fixture
def sealer() -> SubjectSealer:
    return SubjectSealer(InMemoryKeystore())


@pytest.fixture
def mapper() -> Mapper[uuid.UUID]:
    """The service's mapper: orjson, with the library's transcodings."""
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def long_contact(sealer: SubjectSealer, updates: int) -> Contact:
    contact = Contact.register(
        tenant_id=TENANT, actor="agent", details={"full_name": "Dewi Lestari"}, sealer=sealer
    )
    for i in range(updates):
        contact.update(
            actor="agent", changes={"job_title": f"Staf {i}", "age": 20 + i}, sealer=sealer
        )
    contact.collect_events()
    return contact


def through_the_store(contact: Contact, mapper: Mapper[uuid.UUID]) -> Contact:
    """The contact as a snapshot stored and read back rebuilds it."""
    stored = mapper.to_stored_event(Contact.Snapshot.take(contact))
    rebuilt = mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    assert isinstance(rebuilt, Contact)
    return rebuilt


def state(contact: Contact) -> dict[str, Any]:
    return {k: v for k, v in vars(contact).items() if k != "_pending_events"}


def test_a_contact_rebuilt_from_its_snapshot_equals_it_and_opens_its_fields(
    sealer: SubjectSealer, mapper: Mapper[uuid.UUID]
) -> None:
    contact = long_contact(sealer, 30)
    rebuilt = through_the_store(contact, mapper)
    assert state(rebuilt) == state(contact)
    assert rebuilt.fields["full_name"][0] == 1 and rebuilt.fields["job_title"][0] == 31
    opened = sealer.open_fields(TENANT, rebuilt.id, rebuilt.fields, WITNESS)
    assert opened == {"full_name": "Dewi Lestari", "job_title": "Staf 29", "age": 49}


def test_a_snapshot_holds_sealed_tokens_only(
    sealer: SubjectSealer, mapper: Mapper[uuid.UUID]
) -> None:
    contact = long_contact(sealer, 3)
    stored = mapper.to_stored_event(Contact.Snapshot.take(contact))
    assert b"Dewi" not in stored.state and b"Staf" not in stored.state
    assert b"s1." in stored.state


def test_a_token_in_a_snapshot_still_opens_only_under_the_version_that_sealed_it(
    sealer: SubjectSealer, mapper: Mapper[uuid.UUID]
) -> None:
    rebuilt = through_the_store(long_contact(sealer, 3), mapper)
    version, token = rebuilt.fields["job_title"]
    with pytest.raises(SealBroken):
        sealer.open_fields(TENANT, rebuilt.id, {"job_title": (version - 1, token)}, WITNESS)


def test_an_erased_contact_snapshots_with_no_fields(
    sealer: SubjectSealer, mapper: Mapper[uuid.UUID]
) -> None:
    contact = long_contact(sealer, 3)
    contact.record_erasure(
        actor="po",
        erasure_id=uuid.uuid4(),
        key_id="k",
        destroyed_at="2026-01-01T00:00:00+00:00",
        reason="subject asked",
        request_id=None,
    )
    rebuilt = through_the_store(contact, mapper)
    assert rebuilt.erased and rebuilt.fields == {}


PARTS: dict[str, tuple[Any, ...]] = {
    "aggregate": (uuid.uuid4(), 100, "t", b"state", bytes(32)),
    "version": (None, 101, "t", b"state", bytes(32)),
    "topic": (None, 100, "u", b"state", bytes(32)),
    "state": (None, 100, "t", b"statf", bytes(32)),
    "chain hash": (None, 100, "t", b"state", b"\x01" * 32),
    "shifted bytes": (None, 100, "ts", b"tate", bytes(32)),
}


@pytest.mark.parametrize("changed", PARTS)
def test_a_snapshot_signature_binds_each_part_it_covers(changed: str) -> None:
    signer = Signer(os.urandom(32))
    key = PinnedKey.parse(signer.public_key)
    subject = uuid.uuid4()
    signed = snapshot_payload(subject, 100, "t", b"state", bytes(32))
    signature = signer.sign(signed)
    other_id, *rest = PARTS[changed]
    other = snapshot_payload(other_id or subject, *rest)
    assert key.verifies(signed, signature)
    assert not key.verifies(other, signature)


@pytest.mark.parametrize(
    ("versions", "every", "expected"),
    [([100], 100, True), ([99, 100, 101], 100, True), ([101, 102], 100, False), ([100], 0, False)],
)
def test_a_snapshot_is_due_when_a_commit_reaches_a_multiple_of_the_interval(
    versions: list[int], every: int, expected: bool
) -> None:
    assert due(versions, every) is expected


def interval(**env: str) -> int:
    return Settings.from_env({"CRM_DATA_DIR": "/nonexistent", **env}).snapshot_every_events


def test_contacts_are_snapshotted_every_100_events_by_default_and_0_turns_it_off() -> None:
    assert interval() == 100
    assert interval(CRM_SNAPSHOT_EVERY_EVENTS="500") == 500
    assert interval(CRM_SNAPSHOT_EVERY_EVENTS="0") == 0


@pytest.mark.parametrize("value", ["-1", "often"])
def test_an_interval_that_is_not_a_whole_number_of_events_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="CRM_SNAPSHOT_EVERY_EVENTS"):
        interval(CRM_SNAPSHOT_EVERY_EVENTS=value)
