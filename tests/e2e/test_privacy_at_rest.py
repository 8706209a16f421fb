"""No plaintext personal data at rest or in logs, with the real server process on PostgreSQL.

The service runs as users run it (``crm serve``), its log captured to a file; the databases
are read back with ``pg_dump``, as a backup would hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.servers import service_env, start_server
from tests.harness import PostgresServer

# Distinctive values: any hit in a dump or log is a leak, never a coincidence.
PERSONAL = {
    "full_name": "Wulandari Kusumaningtyas",
    "email": "wulandari.kusumaningtyas@surel-rahasia.id",
    "phone": "+6281399887766",
    "company": "CV Batik Parangrusak Lestari",
    "job_title": "Penanggung Jawab Gudang Timur",
}


@pytest.fixture
def server(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[httpx.Client, Settings, Path]]:
    settings = make_settings("postgres")
    running = start_server(service_env(settings), tmp_path / "service.log")
    try:
        yield running.client, settings, running.log_path
    finally:
        running.stop()


def leaks(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [field for field, value in PERSONAL.items() if value.lower().encode() in lowered]


def test_no_plaintext_in_dumps_or_logs_before_and_after_erasure(
    server: tuple[httpx.Client, Settings, Path], postgres_server: PostgresServer
) -> None:
    client, settings, log_path = server
    platform = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tenant = client.post("/v1/tenants", json={"name": "Toko"}, headers=platform).json()
    admin = {"Authorization": f"Bearer {tenant['admin_token']}"}
    tokens = {
        role: client.post(
            "/v1/users", json={"full_name": f"U {role}", "role": role}, headers=admin
        ).json()["token"]
        for role in ("agent", "privacy_officer", "auditor")
    }
    agent = {"Authorization": f"Bearer {tokens['agent']}"}

    # Kept for replay (sealed) under an idempotency key: must not show in a dump either.
    keyed = {**agent, "Idempotency-Key": "privacy-at-rest-1"}
    created = client.post("/v1/contacts", json={**PERSONAL, "age": 29}, headers=keyed)
    assert created.status_code == 201
    replayed = client.post("/v1/contacts", json={**PERSONAL, "age": 29}, headers=keyed)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == created.json()
    contact_id = created.json()["id"]
    # A login by email: the directory holds a blind index, the log holds nothing.
    client.post(
        "/v1/users",
        json={
            "full_name": PERSONAL["full_name"],
            "email": PERSONAL["email"],
            "role": "agent",
            "password": "kata-sandi-yang-panjang",
        },
        headers=admin,
    )
    login = client.post(
        "/v1/sessions",
        json={
            "tenant_id": tenant["id"],
            "email": PERSONAL["email"],
            "password": "kata-sandi-yang-panjang",
        },
    )
    assert login.status_code == 201, login.text
    # Exercise the paths most likely to echo values: lookups and failed validation.
    assert client.get("/v1/contacts", params={"email": PERSONAL["email"]}, headers=agent).json()[
        "items"
    ]
    bad = client.post(
        "/v1/contacts",
        json={"full_name": PERSONAL["full_name"], "email": PERSONAL["company"]},
        headers=agent,
    )
    assert bad.status_code == 422

    events_db = settings.database_url.rsplit("/", 1)[1]
    keys_db = settings.keystore_url.rsplit("/", 1)[1]
    before = postgres_server.pg_dump(events_db)
    assert leaks(before) == []
    assert leaks(postgres_server.pg_dump(keys_db)) == []
    assert leaks(log_path.read_bytes()) == []
    assert b"contacts_view" in before and b"crm_events" in before
    assert b"idempotency_keys" in before and b"users_view" in before

    erased = client.post(
        f"/v1/contacts/{contact_id}/erasure",
        json={"reason": "subject request"},
        headers={"Authorization": f"Bearer {tokens['privacy_officer']}"},
    )
    assert erased.status_code == 200
    assert client.get(f"/v1/contacts/{contact_id}", headers=agent).status_code == 410

    after = postgres_server.pg_dump(events_db)
    assert leaks(after) == []
    # The erased subject's stored response is purged too: its key now answers "gone".
    again = client.post("/v1/contacts", json={**PERSONAL, "age": 29}, headers=keyed)
    assert again.status_code == 410 and "idempotent-replayed" not in again.headers
    assert leaks(again.content) == []
    assert leaks(postgres_server.pg_dump(keys_db)) == []
    assert leaks(log_path.read_bytes()) == []

    audit = client.get(
        "/v1/audit/events",
        params={"contact_id": contact_id},
        headers={"Authorization": f"Bearer {tokens['auditor']}"},
    ).json()["items"]
    assert [e["type"] for e in audit] == [
        "Contact.Registered",
        "SubjectKey.Created",
        "Contact.Erased",
        "SubjectKey.Destroyed",
    ]
    assert set(audit[0]["personal"].values()) == {"erased"}
    assert set(audit[0]["personal"]) == {*PERSONAL, "age"}
    assert b'"request"' in log_path.read_bytes()  # the access log was written
