"""The Kafka relay: every event, still sealed, in order per subject, at least once.

Against a real Kafka-protocol broker (Tansu) and the event store on PostgreSQL; the topic
is read back with a real kafka-python consumer.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from projections.follow import PollingWaiter, follow
from projections.messages import ORIGINATOR_ID, EventDecoder, Marker
from projections.relay import BrokerUnavailable, Relay, RelayTimeouts
from projections.store import ReadModelStore
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import TansuBroker, start_tansu, wait_until
from tests.kafka import consume, position_of, positions_of
from tests.snapshots import PERSONAL, write_history
from tests.witness import WITNESS, access_for

FAST = RelayTimeouts(connect_ms=1000, request_ms=1000, delivery_ms=2000)


@pytest.fixture
def relay_service(
    make_settings: Callable[..., Settings], kafka_broker: TansuBroker
) -> Iterator[Service]:
    settings = make_settings(
        "postgres",
        {
            "CRM_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
            "CRM_KAFKA_TOPIC": f"crm.events.{uuid.uuid4().hex[:8]}",
            "CRM_KAFKA_PARTITIONS": "3",
        },
    )
    service = bootstrap(settings)
    try:
        yield service
    finally:
        service.close()


class CrashesBeforeRecording:
    """A read-model store whose process dies before the relay records its position."""

    def __init__(self, store: ReadModelStore) -> None:
        self.max_tracking_id = store.max_tracking_id

    def apply(self, *_: object) -> None:
        raise RuntimeError("killed between publishing and recording")


def new_relay(service: Service) -> Relay:
    return Relay(
        service.crm, service.read_models, service.settings.kafka, batch_size=7, timeouts=FAST
    )


def all_published(service: Service) -> Callable[[list[Any]], bool]:
    head = service.runner.head()
    return lambda records: positions_of(records) >= set(range(1, head + 1))


def test_relay_publishes_every_event_in_order_keyed_by_subject_with_its_position(
    relay_service: Service,
) -> None:
    service = relay_service
    write_history(service, random.Random(1), commands=25)
    relay = new_relay(service)

    relay.catch_up()
    relay.close()

    records = consume(
        service.settings.kafka.bootstrap or "", service.settings.kafka.topic, all_published(service)
    )
    head = service.runner.head()
    assert sorted(position_of(r) for r in records) == list(range(1, head + 1))  # once each
    stored = {n.id: n for n in service.crm.recorder.select_notifications(start=1, limit=head)}
    per_subject: dict[bytes, list[int]] = {}
    for record in records:
        notification = stored[position_of(record)]
        assert record.key == str(notification.originator_id).encode()
        assert dict(record.headers)[ORIGINATOR_ID] == record.key
        assert record.value == notification.state  # the stored bytes, as they are
        per_subject.setdefault(record.key, []).append(position_of(record))
    assert all(p == sorted(p) for p in per_subject.values())
    assert len({r.partition for r in records}) > 1  # subjects spread over partitions
    assert relay.position() == head and relay.lag() == 0


def test_no_personal_value_reaches_the_topic_in_plaintext(relay_service: Service) -> None:
    service = relay_service
    write_history(service, random.Random(2), commands=20)
    new_relay(service).catch_up()

    records = consume(
        service.settings.kafka.bootstrap or "", service.settings.kafka.topic, all_published(service)
    )

    blob = b"\n".join(
        b"".join([r.key or b"", r.value or b"", *(v for _, v in r.headers)]) for r in records
    ).lower()
    assert b"s1." in blob  # sealed tokens are there
    assert [f for f, v in PERSONAL.items() if v.lower().encode() in blob] == []


def test_consumers_decode_the_topic_and_erased_subjects_come_back_as_markers(
    relay_service: Service,
) -> None:
    service = relay_service
    tenant, _ = service.tenants.create("Toko").value
    kept, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Putri Ayu"})
    erased, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Bayu Aji"})
    for contact in (kept, erased):  # values sealed in another aggregate: a consent record
        service.consents.decide(
            tenant.id,
            contact.id,
            "agent",
            purpose="marketing",
            granted=True,
            policy_version=None,
            source="formulir toko",
            access=access_for(service, tenant.id, "account_management"),
        )
    service.erasures.erase(tenant.id, erased.id, "officer", "subject asked", None)
    new_relay(service).catch_up()
    records = consume(
        service.settings.kafka.bootstrap or "", service.settings.kafka.topic, all_published(service)
    )

    decoder = EventDecoder(service.crm.sealer, WITNESS)  # needs the keystore, not the event store
    personal = {
        (event.aggregate_id, event.type): event.personal
        for event in (decoder.decode(r) for r in records)
    }

    assert personal[(kept.id, "Contact.Registered")] == {"full_name": "Putri Ayu"}
    assert personal[(erased.id, "Contact.Registered")] == {"full_name": Marker.ERASED}
    assert personal[(erased.id, "Contact.Erased")] == {}
    consents = [
        (event.data["contact_id"], event.personal)
        for event in (decoder.decode(r) for r in records)
        if event.type.startswith("ConsentRecord.") and event.personal
    ]
    assert (str(kept.id), {"source": "formulir toko"}) in consents
    assert (str(erased.id), {"source": Marker.ERASED}) in consents


def test_relay_republishes_an_unrecorded_batch_after_a_crash_and_skips_recorded_ones(
    relay_service: Service,
) -> None:
    service = relay_service
    write_history(service, random.Random(3), commands=10)
    first = new_relay(service)
    first.pump()  # batch 1 published and recorded
    recorded = first.position()

    first.store = CrashesBeforeRecording(service.read_models)
    with pytest.raises(RuntimeError):
        first.pump()  # batch 2 published, not recorded
    first.close()
    restarted = new_relay(service)
    restarted.catch_up()
    restarted.close()

    records = consume(
        service.settings.kafka.bootstrap or "", service.settings.kafka.topic, all_published(service)
    )
    counts: dict[int, int] = {}
    for record in records:
        counts[position_of(record)] = counts.get(position_of(record), 0) + 1
    assert set(counts) == set(range(1, service.runner.head() + 1))
    unrecorded_batch = set(range(recorded + 1, min(recorded + 7, service.runner.head()) + 1))
    assert {p for p, n in counts.items() if n > 1} == unrecorded_batch
    assert restarted.position() == service.runner.head()


def test_relay_keeps_running_through_a_broker_outage_and_loses_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    broker = start_tansu()
    stop = threading.Event()
    service = None
    thread = None
    try:
        settings = make_settings(
            "postgres", {"CRM_KAFKA_BOOTSTRAP": broker.bootstrap, "CRM_KAFKA_PARTITIONS": "2"}
        )
        service = bootstrap(settings)
        relay = new_relay(service)
        thread = threading.Thread(
            target=follow,
            args=(relay.pump,),
            kwargs={
                "stop": stop,
                "waiter": PollingWaiter(stop),
                "interval": 0.05,
                "transient": (BrokerUnavailable,),
                "idle": lambda sent: sent == 0,
            },
        )
        thread.start()
        rng = random.Random(4)
        write_history(service, rng, commands=8)
        wait_until(lambda: relay.lag() == 0, 20, "relay before the outage")
        before = consume(broker.bootstrap, settings.kafka.topic, all_published(service))

        broker.kill()  # Tansu keeps topics in memory: what it held before is gone with it
        write_history(service, rng, commands=8)
        wait_until(lambda: relay.failures >= 2, 30, "relay attempts while the broker is down")
        assert thread.is_alive() and relay.lag() > 0
        broker = start_tansu(broker.port)
        wait_until(lambda: relay.lag() == 0, 30, "relay after the broker returned")
        after = consume(
            broker.bootstrap,
            settings.kafka.topic,
            lambda r: (
                positions_of(r)
                >= set(range(max(positions_of(before)) + 1, service.runner.head() + 1))
            ),
        )

        assert positions_of(before) | positions_of(after) == set(
            range(1, service.runner.head() + 1)
        )
        assert thread.is_alive()
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)
        if service is not None:
            service.close()
        broker.kill()
