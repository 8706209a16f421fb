"""Read models fed from the Kafka topic equal those fed from the database log.

``crm projections run --source kafka`` runs as a real process in a consumer group, writing
to its own read-model database (as on another machine); the relay publishes the log,
twice over for part of it (a relay that lost its position), and the worker must apply
every event exactly once all the same.
"""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from projections.relay import Relay, RelayTimeouts
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from service.stores import read_model_store
from tests.harness import PostgresServer, TansuBroker, process_env, wait_until
from tests.snapshots import snapshot, write_history


def relay_everything(service: Service) -> None:
    relay = Relay(
        service.crm,
        service.read_models,
        service.settings.kafka,
        timeouts=RelayTimeouts(connect_ms=2000, request_ms=2000, delivery_ms=4000),
    )
    relay.catch_up()
    relay.close()


def test_read_models_fed_from_kafka_equal_those_fed_from_the_database(
    make_settings: Callable[..., Settings],
    kafka_broker: TansuBroker,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    kafka_env = {
        "CRM_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CRM_KAFKA_TOPIC": f"crm.events.{uuid.uuid4().hex[:8]}",
        "CRM_KAFKA_PARTITIONS": "3",
        "CRM_KAFKA_GROUP": f"projections-{uuid.uuid4().hex[:8]}",
        # Tansu completes a group join only after a delay that grows with these two (about
        # half the session timeout with kafka-python's defaults: 23 s).
        "CRM_KAFKA_MAX_POLL_INTERVAL_MS": "2000",
        "CRM_KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    settings = make_settings("postgres", kafka_env)
    service = bootstrap(settings)
    rng = random.Random(5)
    write_history(service, rng, commands=30)
    relay_everything(service)
    relayed = service.runner.head()
    elsewhere = postgres_server.create_database("views_" + uuid.uuid4().hex[:8])
    remote = read_model_store(elsewhere, [s for p in service.runner.projections for s in p.schema])
    log = tmp_path / "kafka-worker.log"
    env = process_env(settings, {"CRM_READ_MODELS_URL": elsewhere, "CRM_POLL_INTERVAL": "0.2"})
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "projections", "run", "--source", "kafka"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def applied() -> int:
        assert worker.poll() is None, log.read_text()[-2000:]
        return int(remote.query("SELECT COUNT(*) AS n FROM audit_timeline")[0]["n"])

    try:
        wait_until(lambda: applied() == relayed, 30, "Kafka-fed catch-up")
        # The worker records its storage run in the log after its first opening, so what it
        # must reach is what was relayed, not the log's head; the record is waited for, so
        # the next relay carries it and both sides' read models hold it.
        wait_until(lambda: service.runner.head() > relayed, 30, "the worker's storage record")
        # More events while it runs, and the whole log again from a relay that lost its place.
        write_history(service, rng, commands=15)
        service.read_models.discard([], f"relay@{settings.kafka.topic}")
        relay_everything(service)
        relayed = service.runner.head()
        wait_until(lambda: applied() == relayed, 30, "Kafka-fed follow")
    finally:
        worker.terminate()
        worker.wait(10)
    service.runner.catch_up()

    assert worker.returncode == 0, log.read_text()[-2000:]
    assert snapshot(remote, service.runner.projections) == snapshot(
        service.read_models, service.runner.projections
    )
    tracked = remote.tracked()
    assert {name.split("@")[0] for name in tracked} == {p.name for p in service.runner.projections}
    assert {name.split("/")[-1] for name in tracked} == {"0", "1", "2"}  # per partition
    # It opened values to index them: its run is recorded once, in the ledger (invariant 12).
    runs = service.read_models.query(
        "SELECT operation, fields, subject_ids FROM access_view WHERE purpose = 'storage'"
    )
    kafka_runs = [r for r in runs if r["operation"] == "crm projections run --source kafka"]
    assert len(kafka_runs) == 1, runs
    assert "email" in orjson.loads(kafka_runs[0]["fields"])
    assert orjson.loads(kafka_runs[0]["subject_ids"]) == []
    service.close()
