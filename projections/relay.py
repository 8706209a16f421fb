"""The Kafka relay: every stored event, still sealed, published in log order.

The relay follows the notification log from its own tracked position (a row in the read
models' tracking table, ``relay@<topic>``), publishes a batch, waits until the broker has
acknowledged all of it, and only then moves the position. A crash or a broker outage in
between means the batch is published again: delivery is at least once, and consumers
de-duplicate by the store position in each message's headers. While the broker is away
the relay keeps trying (with back-off) and loses nothing: the log is the buffer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from projections.kafka_settings import KafkaSettings
from projections.messages import EventMessage
from projections.store import ReadModelStore, StaleBatch

log = logging.getLogger("crm.relay")


class BrokerUnavailable(Exception):
    """The broker did not take a batch; it stays in the log and is sent again later."""


@dataclass(frozen=True)
class RelayTimeouts:
    """How long one attempt may take before the relay gives up on it and retries."""

    connect_ms: int = 10_000
    request_ms: int = 10_000
    delivery_ms: int = 30_000

    @property
    def flush_seconds(self) -> float:
        return (self.delivery_ms + self.request_ms) / 1000


def topic_retained_forever(settings: KafkaSettings) -> NewTopic:
    """The topic is a second copy of the log that consumers may rebuild from: never
    expire its messages, and never compact them (that would keep one event per subject)."""
    return NewTopic(
        settings.topic,
        settings.partitions,
        settings.replication,
        topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"},
    )


class Relay:
    """Publishes the notification log to ``settings.topic``, keyed by aggregate id."""

    def __init__(
        self,
        app: Application[Any],
        store: ReadModelStore,
        settings: KafkaSettings,
        *,
        batch_size: int = 500,
        timeouts: RelayTimeouts | None = None,
        producer_factory: Callable[..., Any] = KafkaProducer,
    ) -> None:
        self.app = app
        self.store = store
        self.settings = settings
        self.batch_size = batch_size
        self.timeouts = timeouts or RelayTimeouts()
        self.tracking_name = f"relay@{settings.topic}"
        self.failures = 0
        self._producer_factory = producer_factory
        self._producer: Any = None

    def position(self) -> int:
        return self.store.max_tracking_id(self.tracking_name) or 0

    def lag(self) -> int:
        return max((self.app.recorder.max_notification_id() or 0) - self.position(), 0)

    def pump(self) -> int:
        """Publish the next batch; return how many events it held (0: caught up).

        Raises :class:`BrokerUnavailable` when the broker did not acknowledge the batch.
        """
        position = self.position()
        notifications = self.app.recorder.select_notifications(
            start=position + 1, limit=self.batch_size
        )
        if not notifications:
            return 0
        self._publish([EventMessage.from_notification(n) for n in notifications])
        try:
            self.store.apply(Tracking(self.tracking_name, notifications[-1].id), [], position)
        except StaleBatch:
            log.info("another relay published this batch too", extra={"position": position})
        return len(notifications)

    def catch_up(self) -> int:
        """Publish until the log is exhausted; return how many events were sent."""
        total = 0
        while sent := self.pump():
            total += sent
        return total

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.timeouts.flush_seconds)
            self._producer = None

    def _publish(self, messages: list[EventMessage]) -> None:
        try:
            producer = self._connect()
            futures = [
                producer.send(self.settings.topic, key=m.key, value=m.value, headers=m.headers)
                for m in messages
            ]
            producer.flush(timeout=self.timeouts.flush_seconds)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            self.failures += 1
            self._discard_producer()
            raise BrokerUnavailable(type(exc).__name__) from exc

    def _connect(self) -> Any:
        if self._producer is None:
            self._ensure_topic()
            self._producer = self._producer_factory(
                **self.settings.client_options(),
                acks="all",
                # One request in flight per broker: a retried batch never overtakes a later
                # one, so each partition keeps log order.
                max_in_flight_requests_per_connection=1,
                linger_ms=5,
                bootstrap_timeout_ms=self.timeouts.connect_ms,
                max_block_ms=self.timeouts.connect_ms,
                request_timeout_ms=self.timeouts.request_ms,
                delivery_timeout_ms=self.timeouts.delivery_ms,
                reconnect_backoff_max_ms=1000,
            )
        return self._producer

    def _ensure_topic(self) -> None:
        admin = KafkaAdminClient(
            **self.settings.client_options(),
            bootstrap_timeout_ms=self.timeouts.connect_ms,
            request_timeout_ms=self.timeouts.request_ms,
        )
        try:
            admin.create_topics([topic_retained_forever(self.settings)])
            log.info("created topic", extra={"topic": self.settings.topic})
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except KafkaError:
                log.debug("closing a failed producer failed too")
