"""A rebuild folds each batch of contact events into one write per row: the rows must come
out exactly as the events applied one by one leave them, whatever the batches."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.blind_index import BlindIndex
from crypto.keystore import InMemoryKeystore
from crypto.sealer import StorageOpenings, SubjectSealer
from domain.contact import Contact
from domain.errors import SubjectErased
from projections.contacts import SCHEMA, ContactsProjection
from projections.store import Write

TENANT = uuid.uuid4()
CHANGES = st.fixed_dictionaries(
    {"age": st.integers(min_value=20, max_value=60)},  # one field at least: never empty
    optional={
        "email": st.sampled_from([None, "dewi@example.id", "dewi.l@example.id"]),
        "phone": st.sampled_from([None, "0812 1111 2222"]),
        "job_title": st.sampled_from([None, "Manajer", "Kepala Gudang"]),
    },
)
STEPS = st.lists(
    st.tuples(st.sampled_from(["register", "update", "erase"]), st.integers(0, 3), CHANGES),
    max_size=40,
)


Step = tuple[str, int, dict[str, Any]]


def history(keystore: InMemoryKeystore, steps: Sequence[Step]) -> list[Any]:
    """The events of contacts registered, updated and erased as ``steps`` say (steps the
    domain refuses, such as updating an erased contact, are skipped)."""
    sealer = SubjectSealer(keystore)
    contacts: dict[int, Contact] = {}
    events: list[Any] = []
    for kind, which, changes in steps:
        contact = contacts.get(which)
        try:
            if contact is None:
                details = {"full_name": "Dewi Lestari", **changes}
                contact = Contact.register(
                    tenant_id=TENANT, actor="a", details=details, sealer=sealer
                )
                contacts[which] = contact
            elif kind == "update":
                contact.update(actor="a", changes=changes, sealer=sealer)
            elif kind == "erase":
                destroyed = keystore.destroy(TENANT, contact.id, str(uuid.uuid4()))
                contact.record_erasure(
                    actor="a",
                    erasure_id=uuid.uuid4(),
                    key_id=destroyed.key_id,
                    destroyed_at=destroyed.destroyed_at.isoformat(),
                    reason="asked",
                    request_id=None,
                )
        except SubjectErased:
            continue
        events.extend(contact.collect_events())
    return events


def applied(batches: Sequence[list[Write]]) -> list[tuple[Any, ...]]:
    """The contacts_view rows the writes leave, batch after batch."""
    db = sqlite3.connect(":memory:")
    for statement in SCHEMA:
        db.execute(statement)
    for writes in batches:
        for sql, params in writes:
            db.execute(sql, dict(params))
    return db.execute("SELECT * FROM contacts_view ORDER BY id").fetchall()


def projection(keystore: InMemoryKeystore) -> ContactsProjection:
    return ContactsProjection(SubjectSealer(keystore), BlindIndex(b"k" * 32), StorageOpenings())


@settings(max_examples=150, deadline=None)
@given(STEPS, st.integers(min_value=1, max_value=12))
def test_folded_batches_leave_the_rows_the_events_one_by_one_leave(
    steps: list[Step], batch: int
) -> None:
    keystore = InMemoryKeystore()
    events = list(enumerate(history(keystore, steps), start=1))
    one_by_one, folded = projection(keystore), projection(keystore)

    live = applied([one_by_one.writes_for(e, p) for p, e in events])
    rebuilt = applied(
        [folded.writes_for_batch(events[i : i + batch]) for i in range(0, len(events), batch)]
    )

    assert rebuilt == live
    assert (folded.storage.count, folded.storage.fields) == (
        one_by_one.storage.count,
        one_by_one.storage.fields,
    )


def test_a_batch_folds_a_contacts_events_into_one_write() -> None:
    keystore = InMemoryKeystore()
    steps: list[Step] = [("register", 0, {"email": "dewi@example.id"})]
    steps += [("update", 0, {"age": 20 + i}) for i in range(9)]
    events = list(enumerate(history(keystore, steps), start=1))

    writes = projection(keystore).writes_for_batch(events)

    assert len(writes) == 1 and writes[0][1]["version"] == 10


def test_a_second_registration_of_a_row_still_fails_in_a_folded_batch() -> None:
    keystore = InMemoryKeystore()
    [registered] = history(keystore, [("register", 0, {})])
    batch = [(1, registered), (2, registered)]

    with pytest.raises(sqlite3.IntegrityError):
        applied([projection(keystore).writes_for_batch(batch)])
