"""A keyed create runs at most once, even when the process dies between the command's
commit and its idempotency record (the record and the events live in separate transactions).

The first run commits, then its record is lost (the store refuses it, as a process killed
at that moment would leave it: pending). After the lease a retry with the same key and body
runs again, and must find what the first run created instead of creating it twice: the
create's id is derived from the key, so the re-run collides with the first.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api, Tenant
from tests.e2e.servers import service_env, start_server
from tests.harness import wait_until

Create = tuple[str, str, Callable[[Tenant, str], dict[str, Any]]]

CREATES: dict[str, Create] = {
    "contact": ("/v1/contacts", "agent", lambda t, c: {"full_name": "Nyoman Sari"}),
    "user": ("/v1/users", "admin", lambda t, c: {"full_name": "Made Arta", "role": "agent"}),
    "tenant": ("/v1/tenants", "platform", lambda t, c: {"name": "Toko Kedua"}),
    "activity": ("/v1/contacts/{c}/activities", "agent", lambda t, c: {"kind": "page_view"}),
    "share": (
        "/v1/shares",
        "agent",
        lambda t, c: {
            "contact_id": c,
            "recipient": "Mitra Kirim",
            "purpose": "third_party_sharing",
            "fields": ["email"],
        },
    ),
    "request": (
        "/v1/requests",
        "privacy_officer",
        lambda t, c: {"contact_id": c, "kind": "access", "requested_by": "subject"},
    ),
    "linked account": (
        "/v1/contacts/{c}/linked-accounts",
        "agent",
        lambda t, c: {"provider": "telegram", "handle": "@nyoman_sari"},
    ),
}


def _auth(tenant: Tenant, role: str) -> dict[str, str]:
    if role == "platform":
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return tenant.auth(role)


def _lose_the_next_record(api: Api) -> None:
    """The next idempotency record cannot be kept: the command's answer is lost with it."""
    store = api.service.idempotency
    real = store.complete

    def fail_once(*args: Any) -> None:
        store.complete = real  # type: ignore[method-assign]
        raise ConnectionError("the edge database went away")

    store.complete = fail_once  # type: ignore[method-assign]


@pytest.mark.parametrize("what", list(CREATES))
def test_a_create_whose_record_was_lost_is_not_run_twice_by_its_retry(api: Api, what: str) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    for purpose in ("third_party_sharing", "third_party_linking"):
        api.client.post(
            f"/v1/contacts/{contact['id']}/consents",
            json={"purpose": purpose, "granted": True},
            headers=tenant.auth("agent"),
        )
    path, role, body = CREATES[what]
    path = path.replace("{c}", contact["id"])
    headers = {**_auth(tenant, role), "Idempotency-Key": f"lost-record-{what.replace(' ', '-')}"}
    _lose_the_next_record(api)
    first = api.client.post(path, json=body(tenant, contact["id"]), headers=headers)
    assert first.status_code == 201, first.text
    before = api.command_events()
    store = api.service.idempotency
    real_clock = store.clock
    store.clock = lambda: real_clock() + store.lease + 1  # the first run's lease ran out

    retry = api.client.post(path, json=body(tenant, contact["id"]), headers=headers)

    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers  # it ran again, and found the first
    assert retry.json()["id"] == first.json()["id"]
    grew = api.command_events() - before
    if what in ("user", "tenant"):  # the lost token cannot be shown again: a new one is issued
        assert grew == 1
        token = retry.json().get("token") or retry.json()["admin_token"]
        me = api.client.get("/v1/purposes", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    else:
        assert grew == 0
    replay = api.client.post(path, json=body(tenant, contact["id"]), headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()


IN_FLIGHT = 3
# Events stored by commands, not the access records their answers and the read models add.
COMMAND_EVENTS = "SELECT COUNT(*) FROM crm_events WHERE topic NOT LIKE '%AccessRecord%'"


def test_keyed_creates_in_flight_at_a_kill_9_are_not_duplicated_by_their_retries(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A real ``crm serve`` killed with SIGKILL after its commands committed and before their
    idempotency records were kept (a database lock the test holds stops them there), then
    restarted: each client's retry finds its contact, none is created twice."""
    settings = make_settings("postgres")
    env = service_env(settings, CRM_IDEMPOTENCY_LEASE_SECONDS="1")
    log = tmp_path / "server.log"
    server = start_server(env, log)
    agent = _agent(server.client)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        db.execute(HOLD_RECORDS_TRIGGER)
        db.execute("SELECT pg_advisory_lock(4242)")  # every record now waits for the test
        before = _count(db, COMMAND_EVENTS)
        bodies = [{"full_name": f"Tamu {i}", "email": f"tamu{i}@contoh.id"} for i in range(3)]
        senders = [
            threading.Thread(target=_send, args=(server.base_url, agent, i, body))
            for i, body in enumerate(bodies)
        ]
        for sender in senders:
            sender.start()
        # Each contact is two events (the contact, its key's creation): all committed.
        wait_until(
            lambda: _count(db, COMMAND_EVENTS) == before + 2 * IN_FLIGHT,
            30,
            "the in-flight creates committing",
        )
        server.process.kill()
        server.process.wait()
        server.client.close()
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        db.execute("DROP TRIGGER hold_records ON idempotency_keys")
        db.execute("SELECT pg_advisory_unlock(4242)")
    for sender in senders:
        sender.join()

    restarted = start_server(env, log)
    try:
        for i, body in enumerate(bodies):
            retry = _retry_until_the_lease_ends(restarted.client, agent, i, body)
            assert retry.status_code == 201, retry.text
            found = restarted.client.get(
                "/v1/contacts", params={"email": body["email"]}, headers=agent
            ).json()["items"]
            assert [c["id"] for c in found] == [retry.json()["id"]]
    finally:
        restarted.stop()


HOLD_RECORDS_TRIGGER = """
CREATE OR REPLACE FUNCTION hold_records() RETURNS trigger AS $$
BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold_records BEFORE UPDATE ON idempotency_keys
FOR EACH ROW EXECUTE FUNCTION hold_records();
"""


def _count(db: psycopg.Connection[Any], sql: str) -> int:
    row = db.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _agent(client: httpx.Client) -> dict[str, str]:
    platform = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tenant = client.post("/v1/tenants", json={"name": "Toko"}, headers=platform).json()
    admin = {"Authorization": f"Bearer {tenant['admin_token']}"}
    user = client.post("/v1/users", json={"full_name": "A", "role": "agent"}, headers=admin)
    return {"Authorization": f"Bearer {user.json()['token']}"}


def _send(base_url: str, agent: dict[str, str], n: int, body: dict[str, Any]) -> None:
    """A client whose request is cut off by the crash: it never learns the answer."""
    headers = {**agent, "Idempotency-Key": f"in-flight-{n}"}
    with contextlib.suppress(httpx.TransportError):
        httpx.post(f"{base_url}/v1/contacts", json=body, headers=headers, timeout=60)


def _retry_until_the_lease_ends(
    client: httpx.Client, agent: dict[str, str], n: int, body: dict[str, Any]
) -> httpx.Response:
    """Retry while the dead run's lease still holds the key (409), as a client would."""
    headers = {**agent, "Idempotency-Key": f"in-flight-{n}"}
    deadline = time.monotonic() + 30
    while True:
        answer = client.post("/v1/contacts", json=body, headers=headers)
        if answer.status_code != 409 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)
