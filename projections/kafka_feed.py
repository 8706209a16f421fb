"""Projections fed from the Kafka topic instead of the database log.

So read models can live on machines that never reach the event store: they need the
topic, their own read-model database and (for blind indexes) the keystore. Events of one
subject arrive in order within a partition, and the relay may deliver one twice; each
projection tracks, per partition, the highest store position it applied
(``<projection>@<topic>/<partition>``), in the same transaction as its writes, and skips
anything at or below it. Kafka offsets are committed only after that commit, so a crash
means re-reading a few messages, never applying one twice or losing one.

With a consumer group (``CRM_KAFKA_GROUP``) several workers sharing one read-model
database split the partitions between them; a machine with its own read models uses its
own group. Without a group the worker reads every partition from the beginning at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from projections.kafka_settings import KafkaSettings
from projections.messages import EventDecoder, EventMessage, MalformedMessage
from projections.runner import ReadModelProjection, apply_batch
from projections.store import ReadModelStore

log = logging.getLogger("crm.projections")


class KafkaFeed:
    """Polls the event topic and applies what it finds to the projections."""

    def __init__(
        self,
        store: ReadModelStore,
        projections: Sequence[ReadModelProjection],
        settings: KafkaSettings,
        *,
        max_records: int = 500,
        consumer_factory: Callable[..., Any] = KafkaConsumer,
    ) -> None:
        self.store = store
        self.projections = list(projections)
        self.settings = settings
        self.max_records = max_records
        self.decoder = EventDecoder()
        self._consumer_factory = consumer_factory
        self._consumer: Any = None

    def poll(self, timeout_ms: int = 1000) -> int:
        """Wait up to ``timeout_ms`` for messages, apply them; return how many arrived."""
        consumer = self._connect()
        batches = consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        for partition, records in batches.items():
            self._apply(f"{partition.topic}/{partition.partition}", records)
        if batches and self.settings.group:
            consumer.commit()
        return sum(len(records) for records in batches.values())

    def positions(self) -> dict[str, int]:
        """What each projection applied, per partition."""
        marker = f"@{self.settings.topic}/"
        return {name: pos for name, pos in self.store.tracked().items() if marker in name}

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _apply(self, source: str, records: Sequence[Any]) -> None:
        events = []
        for record in records:
            try:
                message = EventMessage.from_record(record)
            except MalformedMessage:
                log.warning("skipped a record that is not an event", extra={"source": source})
                continue
            events.append((message.position, self.decoder.domain_event(message)))
        for projection in self.projections:
            tracking_name = f"{projection.name}@{source}"
            position = self.store.max_tracking_id(tracking_name) or 0
            apply_batch(self.store, projection, tracking_name, position, events)

    def _connect(self) -> Any:
        if self._consumer is not None:
            return self._consumer
        options: dict[str, Any] = {
            **self.settings.client_options(),
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
        }
        if self.settings.group:
            self._consumer = self._consumer_factory(
                self.settings.topic,
                group_id=self.settings.group,
                max_poll_interval_ms=self.settings.max_poll_interval_ms,
                session_timeout_ms=self.settings.session_timeout_ms,
                heartbeat_interval_ms=min(3000, self.settings.session_timeout_ms // 3),
                **options,
            )
            return self._consumer
        consumer = self._consumer_factory(**options)
        partitions = consumer.partitions_for_topic(self.settings.topic)
        if not partitions:
            consumer.close()
            raise LookupError(f"topic {self.settings.topic} does not exist yet")
        consumer.assign([TopicPartition(self.settings.topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        self._consumer = consumer
        return consumer
