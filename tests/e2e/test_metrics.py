"""``/metrics`` as Prometheus reads it: parsed by prometheus_client's own parser, every
metric of before still there, and the histograms of request latency (route templates,
never ids) and of group-commit batch sizes filled by real requests and commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eventsourcing.persistence import Tracking
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.e2e.conftest import Api

STATE_GAUGES = {
    "crm_event_store_head",
    "crm_projection_position",
    "crm_projection_lag_events",
    "crm_projection_lag_seconds",
    "crm_relay_lag_events",
}


def scrape(api: Api) -> dict[str, list[Sample]]:
    """Samples by family name, through the parser Prometheus' Python client ships."""
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels} not in {samples}"
    return found[0]


def test_metrics_parse_and_keep_every_state_gauge_and_the_timeouts_counter(api: Api) -> None:
    api.new_tenant()
    head = api.event_count()

    families = scrape(api)

    assert set(families) >= {*STATE_GAUGES, "crm_read_your_writes_timeouts"}
    assert value(families["crm_event_store_head"], "crm_event_store_head") == head
    position = families["crm_projection_position"]
    assert value(position, "crm_projection_position", projection="contacts") == head
    lag = families["crm_projection_lag_events"]
    assert value(lag, "crm_projection_lag_events", projection="contacts") == 0
    timeouts = families["crm_read_your_writes_timeouts"]
    assert value(timeouts, "crm_read_your_writes_timeouts_total") == 0


def test_relay_lag_is_reported_per_topic_from_the_relay_position(api: Api) -> None:
    api.new_tenant()
    head = api.event_count()
    # Where the relay for topic "crm.events" would be after publishing the first event.
    api.service.read_models.apply(Tracking("relay@crm.events", 1), [], 0)

    relay = scrape(api)["crm_relay_lag_events"]

    assert value(relay, "crm_relay_lag_events", topic="crm.events") == head - 1


def test_request_latency_is_observed_by_route_template_never_by_path(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent"))
    api.client.get("/v1/contacts/not-a-uuid", headers=tenant.auth("agent"))
    api.client.request("BREW", "/v1/contacts")

    latency = scrape(api)["crm_http_request_duration_seconds"]

    count = "crm_http_request_duration_seconds_count"
    single = {"method": "GET", "route": "/v1/contacts/{contact_id}"}
    assert value(latency, count, **single, status_class="2xx") == 1
    assert value(latency, count, **single, status_class="4xx") == 1
    assert value(latency, count, method="POST", route="/v1/contacts", status_class="2xx") == 1
    assert value(latency, count, method="other", route="/v1/contacts", status_class="4xx") == 1
    label_values = {v for s in latency for v in s.labels.values()}
    assert not {contact["id"], "not-a-uuid", tenant.id, "BREW"} & label_values


def test_group_commit_batch_sizes_are_observed_per_shared_transaction(api: Api) -> None:
    tenant = api.new_tenant()  # a tenant and four users: five commands
    api.new_contact(tenant)

    batches = scrape(api)["crm_group_commit_batch_commands"]

    commands = value(batches, "crm_group_commit_batch_commands_sum")
    assert value(batches, "crm_group_commit_batch_commands_count") >= 1
    assert commands >= 6  # one client: each command its own batch, unless they shared one
    assert value(batches, "crm_group_commit_batch_commands_bucket", le="+Inf") == value(
        batches, "crm_group_commit_batch_commands_count"
    )


def test_two_services_in_one_process_count_apart(
    api_on: Callable[..., Api], tmp_path: Path
) -> None:
    busy = api_on("sqlite")
    idle = api_on("sqlite", {"CRM_DATA_DIR": str(tmp_path / "idle")})
    busy.new_tenant()

    busy_batches = scrape(busy)["crm_group_commit_batch_commands"]
    idle_batches = scrape(idle)["crm_group_commit_batch_commands"]

    assert value(busy_batches, "crm_group_commit_batch_commands_count") >= 1
    assert value(idle_batches, "crm_group_commit_batch_commands_count") == 0
