"""The data-key cache's bounds, and the domain rules of scheduled erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crypto.key_cache import KeyCache
from crypto.keystore import InMemoryKeystore
from crypto.sealer import SubjectSealer
from domain.contact import Contact
from domain.errors import ErasurePending, InvalidField, SubjectErased


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: KeyCache[str] = KeyCache(max_entries=10, ttl=5, clock=clock)
    subject = uuid.uuid4()
    cache.put(subject, "key")
    clock.now = 4.9
    assert cache.get(subject) == "key"
    clock.now = 5.1
    assert cache.get(subject) is None


def test_cache_is_bounded_and_evicts_least_recently_used() -> None:
    cache: KeyCache[int] = KeyCache(max_entries=2, ttl=60)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1  # a is now the most recent
    cache.put(c, 3)
    assert cache.get(b) is None and cache.get(a) == 1 and cache.get(c) == 3
    assert len(cache) == 2
    cache.evict(a)
    assert cache.get(a) is None


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def contact() -> Contact:
    sealer = SubjectSealer(InMemoryKeystore())
    return Contact.register(
        tenant_id=uuid.uuid4(), actor="a", details={"full_name": "Sari"}, sealer=sealer
    )


def schedule(c: Contact, hours: float) -> uuid.UUID:
    erasure_id = uuid.uuid4()
    c.schedule_erasure(
        actor="po",
        erasure_id=erasure_id,
        due_at=NOW + timedelta(hours=hours),
        now=NOW,
        reason="asked",
        request_id=None,
    )
    return erasure_id


@pytest.mark.parametrize("hours", [0, -1, 72.01, 100])
def test_grace_period_is_more_than_zero_and_at_most_72_hours(hours: float) -> None:
    with pytest.raises(InvalidField):
        schedule(contact(), hours)


def test_one_pending_erasure_at_a_time_and_cancel_only_the_pending_one() -> None:
    c = contact()
    erasure_id = schedule(c, 72)
    with pytest.raises(ErasurePending):
        schedule(c, 1)
    with pytest.raises(ErasurePending):
        c.cancel_erasure(actor="po", erasure_id=str(uuid.uuid4()))
    c.cancel_erasure(actor="po", erasure_id=str(erasure_id))
    assert c.scheduled_erasure is None
    schedule(c, 1)


def test_erasure_event_is_built_from_the_head_and_refused_twice() -> None:
    event = Contact.erasure_recorded(
        contact_id=uuid.uuid4(),
        tenant_id="t",
        last_version=10_000,
        already_erased=False,
        actor="po",
        erasure_id=uuid.uuid4(),
        key_id="k",
        destroyed_at=NOW.isoformat(),
        reason="asked",
        request_id=None,
    )
    assert event.originator_version == 10_001
    with pytest.raises(SubjectErased):
        Contact.erasure_recorded(
            contact_id=uuid.uuid4(),
            tenant_id="t",
            last_version=3,
            already_erased=True,
            actor="po",
            erasure_id=uuid.uuid4(),
            key_id="k",
            destroyed_at=NOW.isoformat(),
            reason="asked",
            request_id=None,
        )
