"""Idempotency-Key on POST (API.md): one execution per key, replays of the first response."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, Response

from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api

PLATFORM = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_repeat_with_same_key_returns_first_response_and_stores_nothing(
    api_on: Callable[[str], Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "9b1f8a52-create-budi")
    body = {"full_name": "Budi Santoso", "email": "budi@example.id"}
    first = api.client.post("/v1/contacts", json=body, headers=headers)
    assert first.status_code == 201
    after_first = api.command_events()
    disclosed = api.access_records()

    again = api.client.post("/v1/contacts", json=body, headers=headers)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.command_events() == after_first  # no command ran again
    # ...but the replay disclosed the values again, so the trail has it too.
    replayed = api.access_records()[len(disclosed) :]
    assert [(r["subject_ids"], r["operation"]) for r in replayed] == [
        ([first.json()["id"]], "POST /v1/contacts")
    ]
    listed = api.client.get("/v1/contacts", headers=tenant.auth("agent")).json()["items"]
    assert [c["id"] for c in listed] == [first.json()["id"]]


def test_replayed_user_creation_returns_the_same_token_once_issued(api: Api) -> None:
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("admin"), "user-create-0001")
    body = {"full_name": "Sari", "role": "agent"}
    first = api.client.post("/v1/users", json=body, headers=headers)
    before = api.command_events()
    again = api.client.post("/v1/users", json=body, headers=headers)
    assert again.json()["token"] == first.json()["token"]
    assert api.command_events() == before


def test_platform_caller_has_its_own_key_space(api: Api) -> None:
    first = api.client.post("/v1/tenants", json={"name": "A"}, headers=keyed(PLATFORM, "t-1"))
    again = api.client.post("/v1/tenants", json={"name": "A"}, headers=keyed(PLATFORM, "t-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


def test_same_key_with_a_different_body_is_422_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "reused-key-0001")
    api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)
    before = api.command_events()
    other = api.client.post("/v1/contacts", json={"full_name": "Ani"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:crm:problem:idempotency-key-reused"
    assert api.command_events() == before


def test_same_key_on_another_path_is_422(api: Api) -> None:
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("admin"), "reused-across-paths")
    assert api.client.post("/v1/contacts", json={"full_name": "B"}, headers=headers).is_success
    other = api.client.post("/v1/users", json={"full_name": "B", "role": "agent"}, headers=headers)
    assert other.status_code == 422


def test_another_user_of_the_tenant_cannot_replay_someone_elses_response(api: Api) -> None:
    """Keys are kept per tenant, but a replay is bound to the caller: an agent who guesses an
    admin's key must not receive the token that admin's request created."""
    tenant = api.new_tenant()
    body = {"full_name": "Sari", "role": "admin"}
    created = api.client.post("/v1/users", json=body, headers=keyed(tenant.auth("admin"), "k-42"))
    assert created.status_code == 201
    stolen = api.client.post("/v1/users", json=body, headers=keyed(tenant.auth("agent"), "k-42"))
    assert stolen.status_code in (403, 422)
    assert created.json()["token"] not in stolen.text


def test_keys_are_kept_per_tenant(api: Api) -> None:
    one, two = api.new_tenant("One"), api.new_tenant("Two")
    body = {"full_name": "Budi"}
    first = api.client.post("/v1/contacts", json=body, headers=keyed(one.auth("agent"), "shared"))
    second = api.client.post("/v1/contacts", json=body, headers=keyed(two.auth("agent"), "shared"))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers


def test_a_failed_request_is_not_kept_so_its_retry_runs(api: Api) -> None:
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "retry-after-422")
    failed = api.client.post("/v1/contacts", json={"full_name": "Ani", "age": 12}, headers=headers)
    assert failed.status_code == 422
    fixed = api.client.post("/v1/contacts", json={"full_name": "Ani", "age": 30}, headers=headers)
    assert fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "kunci rahasia", "ключ".encode()])
def test_malformed_keys_are_422(api: Api, key: str | bytes) -> None:
    tenant = api.new_tenant()
    before = api.command_events()
    headers: dict[str, Any] = {**tenant.auth("agent"), "Idempotency-Key": key}
    response = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)
    assert response.status_code == 422
    assert api.command_events() == before


def test_keys_expire_after_their_window(api: Api) -> None:
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "expiring-key")
    first = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)
    # Move the record's expiry into the past, as 24 hours would.
    with api.service.edge_db.transaction() as cur:
        cur.execute("UPDATE idempotency_keys SET expires_at = :t", {"t": time.time() - 1})
    later = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]


def test_default_window_is_24_hours(api: Api) -> None:
    tenant = api.new_tenant()
    api.client.post(
        "/v1/contacts", json={"full_name": "B"}, headers=keyed(tenant.auth("agent"), "window")
    )
    with api.service.edge_db.transaction(write=False) as cur:
        row = cur.execute("SELECT claimed_at, expires_at FROM idempotency_keys").fetchone()
    assert row is not None
    assert row["expires_at"] - row["claimed_at"] == pytest.approx(24 * 3600)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_requests_with_one_key_execute_once(
    api_on: Callable[[str], Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    before = api.command_events()
    headers = keyed(tenant.auth("agent"), "concurrent-key")
    results: list[tuple[int, Any]] = []
    barrier = threading.Barrier(10)

    def post() -> None:
        barrier.wait()
        response = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert api.command_events() == before + 2  # Contact.Registered and SubjectKey.Created
    created = [body for status, body in results if status == 201]
    assert created and all(body == created[0] for body in created)
    waited = [body for status, body in results if status != 201]
    assert all(body["type"] == "urn:crm:problem:idempotency-key-in-use" for body in waited)
    assert {status for status, _ in results} <= {201, 409}


def test_stored_response_holds_no_plaintext_and_not_the_key(api: Api) -> None:
    tenant = api.new_tenant()
    key = "c0ffee00-plaintext-check"
    api.client.post(
        "/v1/contacts",
        json={"full_name": "Wulandari Kusumaningtyas", "email": "wulan@rahasia.id"},
        headers=keyed(tenant.auth("agent"), key),
    )
    with api.service.edge_db.transaction(write=False) as cur:
        rows = cur.execute("SELECT * FROM idempotency_keys").fetchall()
    assert len(rows) == 1
    dumped = repr(rows).lower()
    for secret in ("wulandari", "wulan@rahasia.id", key):
        assert secret not in dumped


def test_erasure_purges_stored_responses_and_their_keys_answer_410(api: Api) -> None:
    """A retry of a keyed create after the subject was erased must neither replay the erased
    data nor run again (which would record the erased person anew): it is told "gone"."""
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "before-erasure")
    created = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers).json()
    erased = api.client.post(
        f"/v1/contacts/{created['id']}/erasure",
        json={"reason": "subject request"},
        headers=tenant.auth("privacy_officer"),
    )
    assert erased.status_code == 200
    events = api.command_events()

    again = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=headers)

    assert again.status_code == 410
    assert again.json()["type"] == "urn:crm:problem:erased"
    assert "Budi" not in again.text
    assert api.command_events() == events
    with api.service.edge_db.transaction(write=False) as cur:
        rows = cur.execute("SELECT state, response FROM idempotency_keys").fetchall()
    assert {"state": "purged", "response": None} in rows


def test_a_post_route_added_later_gets_idempotency_for_free(api: Api) -> None:
    """The mechanism is middleware: any POST, including one no one has written yet."""
    calls: list[int] = []
    router = APIRouter()

    @router.post("/v1/test-only/counter", status_code=201)
    def count(response: Response) -> dict[str, int]:
        calls.append(1)
        return {"calls": len(calls)}

    api.client.app.include_router(router)  # type: ignore[attr-defined]
    tenant = api.new_tenant()
    headers = keyed(tenant.auth("agent"), "new-route")
    first = api.client.post("/v1/test-only/counter", json={}, headers=headers)
    again = api.client.post("/v1/test-only/counter", json={}, headers=headers)
    assert first.json() == again.json() == {"calls": 1}
    assert len(calls) == 1
