"""The auditor's API and CLI: verify, checkpoints, proofs, replay as of a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from crypto.audit_proofs import check_consistency_proof, check_inclusion_proof
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.clock import ManualClock
from tests.e2e.conftest import Api


@pytest.fixture
def audited(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    service = bootstrap(make_settings("postgres", CRM_CHECKPOINT_EVERY_EVENTS="4"))
    try:
        client = TestClient(create_app(service), raise_server_exceptions=False)
        yield Api(client, service, ManualClock())
    finally:
        service.close()


def test_verify_endpoint_reports_the_head(audited: Api) -> None:
    tenant = audited.new_tenant()
    audited.new_contact(tenant)
    response = audited.client.get("/v1/audit/verify", headers=tenant.auth("auditor"))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["checked"] == audited.event_count()
    assert audited.client.get("/v1/audit/verify", headers=tenant.auth("agent")).status_code == 403


def test_inclusion_proof_checks_against_the_latest_checkpoint(audited: Api) -> None:
    tenant = audited.new_tenant()
    contact = audited.new_contact(tenant)
    for age in (20, 21, 22):
        audited.client.patch(
            f"/v1/contacts/{contact['id']}", json={"age": age}, headers=tenant.auth("agent")
        )
    auditor = tenant.auth("auditor")
    checkpoint = audited.client.get("/v1/audit/checkpoints/latest", headers=auditor).json()
    events = audited.client.get(
        "/v1/audit/events", params={"contact_id": contact["id"]}, headers=auditor
    ).json()["items"]
    position = events[0]["position"]
    proof = audited.client.get(
        "/v1/audit/proofs/inclusion", params={"position": position}, headers=auditor
    )
    assert proof.status_code == 200, proof.text
    assert proof.json()["tree_size"] == checkpoint["size"]
    key = audited.service.ledger_signer.public_key  # pinned, not the one the checkpoint carries
    assert check_inclusion_proof(proof.json(), checkpoint, key)

    consistency = audited.client.get(
        "/v1/audit/proofs/consistency",
        params={"first": 1, "second": checkpoint["size"]},  # the first entry's checkpoint
        headers=auditor,
    ).json()
    assert check_consistency_proof(
        consistency,
        consistency["first_checkpoint"],
        consistency["second_checkpoint"],
        key,
    )


def test_proofs_of_another_tenants_events_are_404(audited: Api) -> None:
    mine, theirs = audited.new_tenant("Mine"), audited.new_tenant("Theirs")
    audited.new_contact(theirs)
    position = audited.event_count()  # the other tenant's contact
    response = audited.client.get(
        "/v1/audit/proofs/inclusion",
        params={"position": position, "size": position},
        headers=mine.auth("auditor"),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("params", [{"first": 5, "second": 3}, {"first": 1, "second": 10_000}])
def test_impossible_consistency_requests_are_422(audited: Api, params: dict[str, int]) -> None:
    tenant = audited.new_tenant()
    response = audited.client.get(
        "/v1/audit/proofs/consistency", params=params, headers=tenant.auth("auditor")
    )
    assert response.status_code == 422


def test_contact_state_as_of_a_past_time_is_masked(audited: Api) -> None:
    tenant = audited.new_tenant()
    contact = audited.new_contact(tenant, email="lama@contoh.id")
    between = datetime.now(UTC)
    audited.client.patch(
        f"/v1/contacts/{contact['id']}", json={"company": "PT Baru"}, headers=tenant.auth("agent")
    )
    auditor = tenant.auth("auditor")
    then = audited.client.get(
        f"/v1/audit/contacts/{contact['id']}/state",
        params={"as_of": between.isoformat()},
        headers=auditor,
    ).json()
    now = audited.client.get(f"/v1/audit/contacts/{contact['id']}/state", headers=auditor).json()
    assert then["version"] == 1 and then["fields"] == {"email": "sealed", "full_name": "sealed"}
    assert now["version"] == 2 and "company" in now["fields"]
    assert "lama" not in str(then) + str(now)
    before = audited.client.get(
        f"/v1/audit/contacts/{contact['id']}/state",
        params={"as_of": "2000-01-01T00:00:00+00:00"},
        headers=auditor,
    )
    assert before.status_code == 404


def test_cli_exports_verifies_and_checks_proofs(
    audited: Api,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = audited.service.settings
    monkeypatch.setenv("CRM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CRM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CRM_KEYSTORE_URL", settings.keystore_url)
    for name in ("kek", "index_key", "signing_key"):  # the rest are files in the data dir
        monkeypatch.setenv(f"CRM_{name.upper()}", getattr(settings, name) or "")
    monkeypatch.setenv("CRM_CHECKPOINT_EVERY_EVENTS", "4")
    tenant = audited.new_tenant()
    audited.new_contact(tenant)
    assert main(["audit", "verify"]) == 0
    assert orjson.loads(capsys.readouterr().out)["ok"] is True

    bundle = tmp_path / "bundle.jsonl"
    assert main(["audit", "export", str(bundle)]) == 0
    key = audited.service.ledger_signer.public_key
    assert main(["audit", "verify", "--bundle", str(bundle), "--public-key", key]) == 0
    capsys.readouterr()

    auditor = tenant.auth("auditor")
    checkpoint = audited.client.get("/v1/audit/checkpoints/latest", headers=auditor).json()
    proof = audited.client.get(
        "/v1/audit/proofs/inclusion", params={"position": 1}, headers=auditor
    ).json()
    (tmp_path / "proof.json").write_bytes(orjson.dumps(proof))
    (tmp_path / "cp.json").write_bytes(orjson.dumps(checkpoint))
    args = ["audit", "verify-proof", "--proof", str(tmp_path / "proof.json")]
    args += ["--checkpoint", str(tmp_path / "cp.json"), "--public-key", key]
    assert main(args) == 0
    proof["audit_path"] = [*proof["audit_path"][::-1], "00" * 32]
    (tmp_path / "proof.json").write_bytes(orjson.dumps(proof))
    assert main(args) == 1
    assert (
        main(
            [
                "audit",
                "verify-proof",
                "--proof",
                "/nonexistent",
                "--checkpoint",
                "x",
                "--public-key",
                key,
            ]
        )
        == 2
    )


def test_audit_events_of_a_contact_include_everything_about_the_subject(audited: Api) -> None:
    tenant = audited.new_tenant()
    contact = audited.new_contact(tenant)
    for granted in (True, False):
        response = audited.client.post(
            f"/v1/contacts/{contact['id']}/consents",
            json={"purpose": "marketing", "granted": granted},
            headers=tenant.auth("agent"),
        )
        assert response.status_code == 201, response.text
    items = audited.client.get(
        "/v1/audit/events", params={"contact_id": contact["id"]}, headers=tenant.auth("auditor")
    ).json()["items"]
    types = [i["type"] for i in items]
    assert types[:2] == ["Contact.Registered", "SubjectKey.Created"]
    assert sum(t.startswith("ConsentRecord.") for t in types) >= 3  # opened, granted, withdrawn


def test_as_of_in_another_time_zone_means_the_same_instant(audited: Api) -> None:
    tenant = audited.new_tenant()
    contact = audited.new_contact(tenant)
    jakarta = datetime.now(UTC).astimezone(timezone(timedelta(hours=7)))
    audited.client.patch(
        f"/v1/contacts/{contact['id']}", json={"age": 30}, headers=tenant.auth("agent")
    )
    auditor = tenant.auth("auditor")
    items = audited.client.get(
        "/v1/audit/events",
        params={"contact_id": contact["id"], "as_of": jakarta.isoformat()},
        headers=auditor,
    ).json()["items"]
    assert "Contact.Updated" not in [i["type"] for i in items]
    assert "Contact.Registered" in [i["type"] for i in items]
