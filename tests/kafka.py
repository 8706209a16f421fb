"""Reading a topic back in tests with a real kafka-python consumer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from projections.messages import POSITION


def consume(
    bootstrap: str,
    topic: str,
    enough: Callable[[list[Any]], bool],
    deadline_s: float = 20,
) -> list[Any]:
    """Every record of ``topic`` from the beginning, in partition order, polling until
    ``enough(records)`` holds (or failing after ``deadline_s``)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + deadline_s
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        records: list[Any] = []
        while not enough(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(records)} records on {topic}")
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def position_of(record: Any) -> int:
    return int(dict(record.headers)[POSITION])


def positions_of(records: list[Any]) -> set[int]:
    return {position_of(r) for r in records}
