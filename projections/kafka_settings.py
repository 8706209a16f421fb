"""Where the relay publishes and the Kafka-fed projections consume.

It lives beside its two users (:mod:`projections.relay`, :mod:`projections.kafka_feed`)
so that ``projections/`` needs nothing from ``service/``; ``service.settings`` reads the
``CRM_KAFKA_*`` variables into it and holds the instance in ``Settings.kafka``.
"""

from __future__ import annotations

from dataclasses import dataclass


class KafkaNotConfigured(ValueError):
    """No broker to talk to: the relay and a Kafka-fed worker cannot start without one."""


@dataclass(frozen=True)
class KafkaSettings:
    """The topic, how the relay creates it, the consumer group, and how to connect."""

    bootstrap: str | None = None
    topic: str = "crm.events"
    partitions: int = 6
    replication: int = 1
    group: str = "crm-projections"
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 45_000
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None

    def client_options(self) -> dict[str, object]:
        """Connection options shared by the producer, consumer and admin clients."""
        if self.bootstrap is None:
            raise KafkaNotConfigured("CRM_KAFKA_BOOTSTRAP is not set")
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.ssl_cafile:
            options["ssl_cafile"] = self.ssl_cafile
        return options
