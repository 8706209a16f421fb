"""A command over HTTP is one durable commit of the event store (issue 15): its events,
their ledger entries, its read-model rows and the access record of the values its answer
carries commit together, and the answer reflects it with no catch-up. Counted with the
``crm_group_commit_batch_commands`` histogram of ``/metrics`` (one observation per commit)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_metrics import scrape, value

COMMITS = "crm_group_commit_batch_commands_count"


def commits(api: Api) -> float:
    return value(scrape(api)["crm_group_commit_batch_commands"], COMMITS)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_create_and_patch_each_commit_once_with_their_answer_records(
    api_on: Callable[[str], Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    api.new_contact(tenant, email="pertama@example.id")  # the run's storage record, once
    before = commits(api)

    created = api.new_contact(tenant, full_name="Sari Dewi", email="sari@example.id")
    after_create = commits(api)
    patched = api.client.patch(
        f"/v1/contacts/{created['id']}", json={"company": "PT Maju"}, headers=tenant.auth("agent")
    )
    after_patch = commits(api)

    assert patched.status_code == 200, patched.text
    assert (after_create - before, after_patch - after_create) == (1, 1)
    trail = api.client.get(
        "/v1/audit/access",
        params={"contact_id": created["id"]},
        headers=tenant.auth("privacy_officer"),
    ).json()["items"]
    assert [r["operation"] for r in trail] == [
        "POST /v1/contacts",
        "PATCH /v1/contacts/{contact_id}",
    ]
    found = api.client.get(f"/v1/contacts/{created['id']}", headers=tenant.auth("agent"))
    assert found.json()["company"] == "PT Maju"  # the read model was written with the patch
