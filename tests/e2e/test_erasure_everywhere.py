"""Erasure as operators run it, across processes, backups and the end of a KEK epoch."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson
import psycopg
import pytest

from crypto.certificates import verify_certificate
from crypto.errors import CryptoError
from crypto.kek import (
    LocalKeyEncryptionKey,
    decode_key,
    load_or_create_key_file,
    retired_key_files,
)
from crypto.sealer import SubjectSealer
from crypto.signing import Signer
from crypto.sql_keystore import SqlKeystore
from projections.messages import EventDecoder, Marker
from projections.relay import Relay
from service.bootstrap import bootstrap
from service.settings import Settings
from sqlstore.sql import open_database
from tests.conftest import ADMIN_TOKEN
from tests.e2e.servers import run_cli, service_env, start_server
from tests.harness import PostgresServer, TansuBroker
from tests.kafka import consume, positions_of
from tests.witness import WITNESS

ERASED = {
    "full_name": "Sulistyowati Handayaningrum",
    "email": "sulistyowati.handayaningrum@rahasia-satu.id",
    "phone": "+6281311122233",
    "company": "PT Tenun Ikat Sumba Makmur",
    "job_title": "Koordinator Ekspor Tenun",
}
KEPT = {
    "full_name": "Bonaventura Siahaan",
    "email": "bonaventura.siahaan@rahasia-dua.id",
    "phone": "+6281344455566",
    "company": "CV Kopi Toba Lestari",
    "job_title": "Kepala Sangrai Kopi",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def setup_tenant(client: httpx.Client) -> dict[str, str]:
    tenant = client.post("/v1/tenants", json={"name": "Bukti"}, headers=bearer(ADMIN_TOKEN))
    admin = tenant.json()["admin_token"]
    tokens = {"admin": admin}
    for role in ("agent", "privacy_officer", "auditor"):
        user = client.post(
            "/v1/users", json={"full_name": f"U {role}", "role": role}, headers=bearer(admin)
        )
        tokens[role] = user.json()["token"]
    return tokens


def test_no_process_serves_an_erased_subject_after_the_erasure(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings("postgres")
    env = service_env(settings)
    first = start_server(env, tmp_path / "first.log")
    second = start_server(env, tmp_path / "second.log")
    try:
        tokens = setup_tenant(first.client)
        agent = bearer(tokens["agent"])
        contact = first.client.post("/v1/contacts", json=ERASED, headers=agent).json()
        url = f"/v1/contacts/{contact['id']}"
        # Both processes open the subject, so both hold its key in their caches.
        assert first.client.get(url, headers=agent).status_code == 200
        assert second.client.get(url, headers=agent).status_code == 200
        erased = second.client.post(
            f"{url}/erasure", json={"reason": "asked"}, headers=bearer(tokens["privacy_officer"])
        )
        assert erased.status_code == 200
        assert first.client.get(url, headers=agent).status_code == 410
        found = first.client.get("/v1/contacts", params={"email": ERASED["email"]}, headers=agent)
        assert found.status_code == 200 and found.json()["items"] == []
        patched = first.client.patch(url, json={"age": 40}, headers=agent)
        assert patched.status_code == 410
    finally:
        first.stop()
        second.stop()


def tokens_of(database_url: str) -> list[tuple[UUID, UUID, int, str, str]]:
    """Every sealed token in a store: (tenant, subject, version, field, token)."""
    found = []
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, state FROM crm_events"
        ).fetchall()
    for subject, version, state in rows:
        body: dict[str, Any] = orjson.loads(state)
        for field, token in (body.get("sealed") or {}).items():
            found.append((UUID(body["tenant_id"]), subject, version, field, token))
    return found


def decryptable(sealer: SubjectSealer, tokens: list[tuple[UUID, UUID, int, str, str]]) -> set[str]:
    opened: set[str] = set()
    for tenant, subject, version, field, token in tokens:
        try:
            values = sealer.open_fields(tenant, subject, {field: (version, token)}, WITNESS)
        except CryptoError:
            continue
        opened.update(str(v) for v in values.values())
    return opened


def plaintext_hits(blob: bytes, values: dict[str, str]) -> list[str]:
    return [v for v in values.values() if v.lower().encode() in blob.lower()]


def relay_all(settings: Settings) -> None:
    """Publish the log to Kafka, as `crm relay` does, from a process of the deployment."""
    service = bootstrap(settings)
    try:
        relay = Relay(service.crm, service.read_models, settings.kafka)
        relay.catch_up()
        relay.close()
    finally:
        service.close()


def topic_records(settings: Settings, service_head: int) -> list[Any]:
    return consume(
        settings.kafka.bootstrap or "",
        settings.kafka.topic,
        lambda records: positions_of(records) >= set(range(1, service_head + 1)),
    )


def test_erasure_proof_across_store_logs_kafka_and_pre_erasure_backups(
    make_settings: Callable[..., Settings],
    postgres_server: PostgresServer,
    kafka_broker: TansuBroker,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kafka = {
        "CRM_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CRM_KAFKA_TOPIC": f"crm.events.{uuid.uuid4().hex[:8]}",
        "CRM_KAFKA_PARTITIONS": "2",
    }
    settings = make_settings("postgres", {**kafka, "CRM_KEK": ""})
    env = service_env(settings)
    env.pop("CRM_KEK")  # the KEK lives in a file, so `crm keys rotate-kek` can retire it
    (settings.data_dir).mkdir(parents=True, exist_ok=True)
    log = tmp_path / "service.log"
    server = start_server(env, log)
    try:
        tokens = setup_tenant(server.client)
        agent = bearer(tokens["agent"])
        erased = server.client.post("/v1/contacts", json=ERASED, headers=agent).json()
        kept = server.client.post("/v1/contacts", json=KEPT, headers=agent).json()
        server.client.get("/v1/contacts", params={"email": ERASED["email"]}, headers=agent)

        relay_all(settings)  # the subject's events reach Kafka before the erasure
        events_db = settings.database_url.rsplit("/", 1)[1]
        keys_db = settings.keystore_url.rsplit("/", 1)[1]
        events_backup = postgres_server.pg_dump(events_db)
        keys_backup = postgres_server.pg_dump(keys_db)

        certificate = server.client.post(
            f"/v1/contacts/{erased['id']}/erasure",
            json={"reason": "data-subject request"},
            headers=bearer(tokens["privacy_officer"]),
        ).json()
        signing_key = decode_key(settings.signing_key or "", "CRM_SIGNING_KEY")
        assert verify_certificate(certificate, Signer(signing_key).public_key)
    finally:
        server.stop()  # a running process still holds the old KEK in memory: restart after

    status = run_cli(env, "keys", "status")
    assert len(orjson.loads(status.stdout)["erasures_incomplete_in_backups"]) == 1
    rotation = run_cli(env, "keys", "rotate-kek", "--destroy-old")
    assert rotation.returncode == 0, rotation.stderr
    status = run_cli(env, "keys", "status")
    assert status.returncode == 0
    assert orjson.loads(status.stdout)["erasures_incomplete_in_backups"] == []
    assert retired_key_files(settings.kek_file) == []
    relay_all(settings)  # the erasure and the rotation reach Kafka too

    # Restore the pre-erasure backups beside the live store.
    restored_events = postgres_server.restore(events_backup, events_db + "_restored")
    restored_keys = postgres_server.restore(keys_backup, keys_db + "_restored")
    surviving_kek = LocalKeyEncryptionKey(load_or_create_key_file(settings.kek_file, "CRM_KEK"))
    live = SubjectSealer(SqlKeystore(open_database(settings.keystore_url), surviving_kek))
    backup = SubjectSealer(SqlKeystore(open_database(restored_keys), surviving_kek))
    all_tokens = tokens_of(settings.database_url) + tokens_of(restored_events)

    opened = decryptable(live, all_tokens) | decryptable(backup, all_tokens)
    with psycopg.connect(settings.database_url) as conn:
        head = conn.execute("SELECT MAX(notification_id) FROM crm_events").fetchone()
    records = topic_records(settings, int(head[0]) if head else 0)
    kafka_blob = b"\n".join(
        b"".join([r.key or b"", r.value or b"", *(v for _, v in r.headers)]) for r in records
    )
    for sealer in (live, backup):  # the topic decoded as a consumer would, with any key left
        decoder = EventDecoder(sealer, WITNESS)
        for record in records:
            try:
                personal = decoder.decode(record).personal
            except CryptoError:  # the backup's keys are wrapped under a destroyed KEK
                continue
            opened |= {str(v) for v in personal.values() if not isinstance(v, Marker)}
    places = {
        "event store dump": postgres_server.pg_dump(events_db),
        "keystore dump": postgres_server.pg_dump(keys_db),
        "pre-erasure event store backup": events_backup,
        "pre-erasure keystore backup": keys_backup,
        "service log": log.read_bytes(),
        "Kafka topic": kafka_blob,
    }
    plaintext = {name: plaintext_hits(blob, ERASED) for name, blob in places.items()}
    decrypted_erased = sorted(set(ERASED.values()) & opened)
    decrypted_kept = sorted(set(KEPT.values()) & opened)

    with capsys.disabled():
        print("\nerasure proof:")
        for name, hits in plaintext.items():
            print(f"  {name:34s} {len(places[name]):>9,} bytes  plaintext hits {len(hits)}")
        print(
            f"  sealed tokens tried {len(all_tokens)} (live + restored) and {len(records)}"
            " Kafka records decoded, with every KEK left"
        )
        print(f"  erased subject's values decrypted: {len(decrypted_erased)} of {len(ERASED)}")
        print(f"  kept subject's values decrypted:   {len(decrypted_kept)} of {len(KEPT)}")

    assert all(hits == [] for hits in plaintext.values())
    assert decrypted_erased == []
    assert decrypted_kept == sorted(KEPT.values())

    # The service restarts on the new KEK and still serves the subject that was kept.
    server = start_server(env, log)
    try:
        agent = bearer(tokens["agent"])
        assert (
            server.client.get(f"/v1/contacts/{kept['id']}", headers=agent).json()["email"]
            == (KEPT["email"])
        )
        assert server.client.get(f"/v1/contacts/{erased['id']}", headers=agent).status_code == 410
        verdict = server.client.get("/v1/audit/verify", headers=bearer(tokens["auditor"]))
        assert verdict.json()["ok"] is True
    finally:
        server.stop()
