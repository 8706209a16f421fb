"""The service's Prometheus metrics, kept in a registry of its own and served at ``/metrics``.

One :class:`ServiceMetrics` per :class:`~service.bootstrap.Service`, never
``prometheus_client``'s global registry: tests build several services in one process, and
each must count only its own requests and commits (the global one would also refuse a
second metric of the same name).

What reflects current state (the log's head, each projection's position and lag, the
relay's lag) is read from the stores when scraped, by :class:`StoreStateCollector`, and
never kept in a gauge: a stored value would be as old as whatever last set it, and the API
process reports progress made by the worker and the relay, which set nothing in it. What
counts or times events is recorded where they happen: read-your-writes timeouts in
``Service.read_your_writes``, request latency in ``api.middleware``, batch sizes in
``service.group_commit`` (events) and ``crypto.key_creation`` (first keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from projections.runner import ReadModelRunner
from projections.store import ReadModelStore

# What generate_latest writes (Prometheus text format 0.0.4), as prometheus_client's own
# exposition servers label it; its CONTENT_TYPE_LATEST (1.0.0) is for negotiated escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

RELAY_PREFIX = "relay@"

# Seconds: prometheus_client's defaults, which span an indexed read to a slow erasure.
REQUEST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Commands (or first keys) per transaction, up to the committers' largest batch (256; 128).
BATCH_COMMANDS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    """The registry and the metrics recorded as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_request_duration = Histogram(
            "crm_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ["method", "route", "status_class"],
            buckets=REQUEST_SECONDS,
            registry=self.registry,
        )
        self.group_commit_batch = Histogram(
            "crm_group_commit_batch_commands",
            "Commands saved together in one shared transaction by group commit.",
            buckets=BATCH_COMMANDS,
            registry=self.registry,
        )
        self.key_batch = Histogram(
            "crm_key_batch_keys",
            "First keys of new subjects stored together in one keystore transaction.",
            buckets=BATCH_COMMANDS,
            registry=self.registry,
        )
        self.disclosed_subjects = Counter(
            "crm_disclosed_subjects",
            "Subjects whose personal values an answer carried, each in a committed access"
            " record (one record per request).",
            registry=self.registry,
        )
        self.read_your_writes_timeouts = Counter(
            "crm_read_your_writes_timeouts",
            "Answers sent before the read models reached the command's position.",
            registry=self.registry,
        )

    def watch(
        self, head: Callable[[], int], runner: ReadModelRunner, store: ReadModelStore
    ) -> None:
        """Report the log's head and the read side's progress, read at every scrape."""
        self.registry.register(StoreStateCollector(head, runner, store))

    def exposition(self) -> bytes:
        """Everything in the registry, in Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


class StoreStateCollector:
    """Gauges computed from the stores at scrape time: the event store's head, each
    projection's position and lag (events, and seconds since the oldest unapplied event),
    and per Kafka topic the events the relay has not published yet."""

    def __init__(
        self, head: Callable[[], int], runner: ReadModelRunner, store: ReadModelStore
    ) -> None:
        self.head = head
        self.runner = runner
        self.store = store

    def collect(self) -> Iterator[Metric]:
        head = self.head()
        lag = self.runner.lag()
        yield GaugeMetricFamily(
            "crm_event_store_head", "Position of the newest stored event.", value=head
        )
        yield _per(
            "crm_projection_position",
            "Position of the last event applied, per projection.",
            "projection",
            self.runner.positions(),
        )
        yield _per(
            "crm_projection_lag_events",
            "Events stored but not yet applied, per projection.",
            "projection",
            {name: behind.events for name, behind in lag.items()},
        )
        yield _per(
            "crm_projection_lag_seconds",
            "Age of the oldest event not yet applied, per projection (0 when caught up).",
            "projection",
            {name: round(behind.seconds, 3) for name, behind in lag.items()},
        )
        relays = {
            name.removeprefix(RELAY_PREFIX): position
            for name, position in self.store.tracked().items()
            if name.startswith(RELAY_PREFIX)
        }
        yield _per(
            "crm_relay_lag_events",
            "Events stored but not yet published to Kafka, per topic.",
            "topic",
            {topic: max(head - position, 0) for topic, position in relays.items()},
        )


def _per(name: str, documentation: str, label: str, values: Mapping[str, float]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family
