"""Folding and gathering without the library's Protocol checks do what the library does."""

from __future__ import annotations

import uuid

from eventsourcing.application import ProcessingEvent, project_aggregate

from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.contact import Contact
from storage.folding import gathered, mutate_in_turn

TENANT = uuid.uuid4()


def a_contact_with_history(updates: int) -> tuple[Contact, list[object]]:
    sealer = SubjectSealer(InMemoryKeystore())
    contact = Contact.register(
        tenant_id=TENANT, actor="agent", details={"full_name": "Dewi Lestari"}, sealer=sealer
    )
    for age in range(20, 20 + updates):
        contact.update(actor="agent", changes={"age": age}, sealer=sealer)
    return contact, list(contact.collect_events())


def test_folding_a_history_gives_the_aggregate_the_library_would() -> None:
    contact, events = a_contact_with_history(30)

    folded = mutate_in_turn(None, events)

    assert isinstance(folded, Contact)
    assert vars(folded) == vars(project_aggregate(None, events)) == vars(contact)


def test_gathering_events_aggregates_and_nothing_matches_the_library() -> None:
    _, events = a_contact_with_history(2)
    other, _ = a_contact_with_history(1)
    other.update(actor="agent", changes={"age": 40}, sealer=SubjectSealer(InMemoryKeystore()))
    library: ProcessingEvent[uuid.UUID] = ProcessingEvent()
    pending = other.pending_events.copy()
    library.collect_events(*events, other, None, note="x")
    other.pending_events.extend(pending)

    ours = gathered([*events, other, None], {"note": "x"})

    assert ours.events == library.events
    assert len(ours.events) == len(events) + 1
    assert ours.aggregates == library.aggregates == {other.id: other}
    assert ours.saved_kwargs == library.saved_kwargs
