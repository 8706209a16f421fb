"""The Kafka relay: events per second from the log to the broker (Tansu, in memory).

Product: ``Relay.catch_up`` from position zero to a fresh topic each run (read a batch
of 500 from the notification log, publish with acks=all and one request in flight, wait
for every acknowledgement, move the tracked position). Baseline: kafka-python alone, the
same producer settings and the same messages, already in memory: the broker's and the
client's own ceiling on this machine.
"""

from __future__ import annotations

import time
import uuid

from kafka import KafkaAdminClient, KafkaProducer

from bench.common import Measurement, Mode, Results, deployment_env
from bench.replay import fill
from projections.kafka_settings import KafkaSettings
from projections.messages import EventMessage
from projections.relay import Relay, topic_retained_forever
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import PostgresServer, start_tansu


def relay_rate(service: Service, bootstrap_servers: str) -> float:
    settings = KafkaSettings(bootstrap=bootstrap_servers, topic=f"bench-{uuid.uuid4().hex[:8]}")
    relay = Relay(service.crm, service.read_models, settings, batch_size=500)
    try:
        relay._ensure_topic()  # topic creation is not part of the rate
        started = time.perf_counter()
        sent = relay.catch_up()
        return sent / (time.perf_counter() - started)
    finally:
        relay.close()


def producer_rate(messages: list[EventMessage], bootstrap_servers: str) -> float:
    settings = KafkaSettings(bootstrap=bootstrap_servers, topic=f"raw-{uuid.uuid4().hex[:8]}")
    admin = KafkaAdminClient(**settings.client_options())
    admin.create_topics([topic_retained_forever(settings)])
    admin.close()
    producer = KafkaProducer(
        **settings.client_options(),
        acks="all",
        max_in_flight_requests_per_connection=1,
        linger_ms=5,
    )
    try:
        started = time.perf_counter()
        for start in range(0, len(messages), 500):  # flushed per batch, as the relay does
            futures = [
                producer.send(settings.topic, key=m.key, value=m.value, headers=m.headers)
                for m in messages[start : start + 500]
            ]
            producer.flush()
            for future in futures:
                future.get(timeout=0)
        return len(messages) / (time.perf_counter() - started)
    finally:
        producer.close()


def run(server: PostgresServer, mode: Mode, results: Results) -> None:
    broker = start_tansu()
    service = bootstrap(Settings.from_env(deployment_env(server)))
    try:
        size = fill(service, mode.relay_events)
        notifications = service.crm.recorder.select_notifications(start=1, limit=size)
        messages = [EventMessage.from_notification(n) for n in notifications]
        relay_rate(service, broker.bootstrap)
        producer_rate(messages, broker.bootstrap)
        pairs = [
            (relay_rate(service, broker.bootstrap), producer_rate(messages, broker.bootstrap))
            for _ in range(mode.repeat)
        ]
        case = f"N={size:,}"
        results.add(Measurement("relay", case, "product", "events/s", [p for p, _ in pairs]))
        results.add(Measurement("relay", case, "kafka", "events/s", [b for _, b in pairs]))
    finally:
        service.close()
        broker.kill()
