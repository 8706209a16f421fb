"""Every ledger entry is covered by a signed checkpoint within a bounded delay, with or
without further writes (DESIGN.md invariant 15), and ``GET /v1/audit/checkpoints/latest``
never 404s once the log has an entry (API.md).

The delay is made short by configuration and the tests poll with a deadline. The
long-running processes that run the checkpointer are each started for real once.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from crypto.audit_proofs import check_inclusion_proof
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api, Tenant
from tests.e2e.servers import serve_process
from tests.harness import TansuBroker, process_env, wait_until

DELAY = 0.5
SHORT = {"CRM_CHECKPOINT_MAX_DELAY_SECONDS": str(DELAY)}


def latest(api: Api, tenant: Tenant) -> dict[str, Any]:
    response = api.client.get("/v1/audit/checkpoints/latest", headers=tenant.auth("auditor"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def own_last_position(api: Api, tenant: Tenant) -> int:
    items = api.client.get("/v1/audit/events", headers=tenant.auth("auditor")).json()["items"]
    return max(int(i["position"]) for i in items)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_latest_is_there_from_the_first_entry_without_any_timer(
    api_on: Callable[..., Api], backend: str
) -> None:
    api = api_on(backend, {"CRM_CHECKPOINT_MAX_DELAY_SECONDS": "3600"})
    tenant = api.new_tenant()  # the client is not started: no background thread runs
    checkpoint = latest(api, tenant)
    assert checkpoint["size"] >= 1
    assert checkpoint["public_key"] == api.service.ledger_signer.public_key


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_latest_is_taken_on_the_spot_when_a_deployment_has_none(
    api_on: Callable[..., Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    api.service.crm.ledger_recorder.execute_write("DELETE FROM ledger_checkpoints")  # older
    checkpoint = latest(api, tenant)
    assert checkpoint["size"] == api.event_count()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_after_the_last_write_a_checkpoint_covers_it_within_the_delay(
    api_on: Callable[..., Api], backend: str
) -> None:
    api = api_on(backend, SHORT)
    with api.client:  # starts the app's lifespan: the erasure sweep and the checkpointer
        tenant = api.new_tenant()
        api.new_contact(tenant)
        written, size = time.monotonic(), api.event_count()  # and nothing is written after
        wait_until(lambda: latest(api, tenant)["size"] == size, DELAY + 10, "coverage")
        covered_after = time.monotonic() - written
        checkpoint = latest(api, tenant)
        position = own_last_position(api, tenant)
        proof = api.client.get(
            "/v1/audit/proofs/inclusion",
            params={"position": position},
            headers=tenant.auth("auditor"),
        ).json()
    # The last event is the access record of new_contact's answer; the tenant's own last
    # write is just before it. Both are covered.
    assert proof["tree_size"] == size and position <= size
    assert check_inclusion_proof(proof, checkpoint, api.service.ledger_signer.public_key)
    assert covered_after < DELAY + 2  # the bound, with room for a loaded machine


# The processes that run the checkpointer, each as users run it.


def write_once(service: Service) -> int:
    """One write, with no checkpointer running in this process: the tail is left bare."""
    tenant, _ = service.tenants.create("Sepi").value
    service.contacts.register(tenant.id, "agent", {"full_name": "Satu Saja"})
    return service.crm.recorder.max_notification_id() or 0


def checkpointed_size(service: Service) -> int:
    rows = service.crm.ledger_recorder.query("SELECT MAX(size) AS size FROM ledger_checkpoints")
    return int(rows[0]["size"] or 0)


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def assert_covered_by(settings: Settings, command: list[str], log: Path) -> None:
    """Write while no checkpointer runs, then start ``command`` alone: it covers the tail."""
    with bootstrap(settings) as service:
        size = write_once(service)
        assert checkpointed_size(service) < size
        env = process_env(settings, SHORT)
        with running(command, env, log):
            wait_until(lambda: checkpointed_size(service) == size, 30, f"{command} checkpoints")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_projection_worker_alone_checkpoints_the_tail(
    make_settings: Callable[..., Settings], backend: str, tmp_path: Path
) -> None:
    settings = make_settings(backend, {"CRM_PROJECTIONS_INLINE": "false"})
    assert_covered_by(settings, ["projections", "run"], tmp_path / "worker.log")


def test_the_relay_alone_checkpoints_the_tail(
    make_settings: Callable[..., Settings], kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    kafka = {
        "CRM_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CRM_KAFKA_TOPIC": f"crm.events.{uuid.uuid4().hex[:8]}",
    }
    settings = make_settings("postgres", kafka)
    assert_covered_by(settings, ["relay"], tmp_path / "relay.log")


def test_the_served_api_checkpoints_the_tail(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings("postgres")
    with bootstrap(settings) as service:
        size = write_once(service)
        with serve_process(settings, tmp_path / "serve.log", env=SHORT) as server:
            wait_until(lambda: checkpointed_size(service) == size, 30, "crm serve checkpoints")
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            created = server.client.post("/v1/tenants", json={"name": "Lagi"}, headers=admin)
            assert created.status_code == 201
            grown = service.crm.recorder.max_notification_id() or 0
            wait_until(lambda: checkpointed_size(service) == grown, 30, "and after its own write")
