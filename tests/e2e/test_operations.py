"""Operating the read side over HTTP: lag in /metrics, readiness, and read-your-writes when
a separate projection worker (not the API) applies the projections."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from uuid import UUID

from projections.follow import Follower, PollingWaiter
from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api

PLATFORM = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WORKER_MODE = {"CRM_PROJECTIONS_INLINE": "false"}


def metric(api: Api, name: str, projection: str | None = None) -> float:
    text = api.client.get("/metrics").text
    labels = f'{{projection="{projection}"}}' if projection else ""
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert found, f"{name}{labels} missing from:\n{text}"
    return float(found.group(1))


def test_metrics_report_projection_lag_in_events_and_seconds(
    api_on: Callable[..., Api],
) -> None:
    api = api_on("sqlite", WORKER_MODE)
    api.service.tenants.create("Written elsewhere")  # two events nobody projected yet

    assert metric(api, "crm_projection_lag_events", "contacts") == 2
    assert metric(api, "crm_projection_lag_seconds", "contacts") > 0
    api.service.runner.catch_up()
    assert metric(api, "crm_projection_lag_events", "contacts") == 0
    assert metric(api, "crm_projection_lag_seconds", "contacts") == 0
    assert metric(api, "crm_projection_position", "contacts") == 2


def test_readyz_is_not_ready_while_projections_lag_beyond_the_limit(
    api_on: Callable[..., Api],
) -> None:
    api = api_on("sqlite", {**WORKER_MODE, "CRM_PROJECTION_MAX_LAG_EVENTS": "1"})
    assert api.client.get("/readyz").status_code == 200
    api.service.tenants.create("Written elsewhere")

    lagging = api.client.get("/readyz")

    assert lagging.status_code == 503
    assert lagging.headers["content-type"] == "application/problem+json"
    assert "contacts" in lagging.json()["detail"]
    api.service.runner.catch_up()
    assert api.client.get("/readyz").status_code == 200


def test_with_a_worker_applying_projections_clients_still_read_their_writes(
    api_on: Callable[..., Api],
) -> None:
    api = api_on("postgres", WORKER_MODE)
    # A worker that looks for news only every 0.2 s: an answer that did not wait for it
    # would come back long before the read models moved.
    worker = Follower(api.service.runner.catch_up, PollingWaiter, interval=0.2).start()
    try:
        tenant = api.new_tenant()  # each step authenticates with a token issued just before
        created = api.new_contact(tenant, email="Dewi.Lestari@Contoh.ID")
        applied = min(api.service.runner.positions().values())
        found = api.client.get(
            "/v1/contacts", params={"email": "dewi.lestari@contoh.id"}, headers=tenant.auth("agent")
        )
    finally:
        worker.close()

    # The answer waited for the command's events (the access record of the answer itself
    # comes after them, and the worker may apply it later).
    assert applied >= api.service.crm.position_of(UUID(created["id"]), 1)
    assert [c["id"] for c in found.json()["items"]] == [created["id"]]
    assert metric(api, "crm_read_your_writes_timeouts_total") == 0


def test_without_a_worker_a_write_answers_at_the_deadline_and_is_counted(
    api_on: Callable[..., Api],
) -> None:
    api = api_on("sqlite", {**WORKER_MODE, "CRM_READ_YOUR_WRITES_TIMEOUT": "0.3"})
    started = time.monotonic()

    created = api.client.post("/v1/tenants", json={"name": "Toko"}, headers=PLATFORM)

    assert created.status_code == 201  # the command succeeded; only the read side is behind
    assert time.monotonic() - started >= 0.3
    assert metric(api, "crm_read_your_writes_timeouts_total") == 1
    assert set(api.service.runner.positions().values()) == {0}  # the API applied nothing
