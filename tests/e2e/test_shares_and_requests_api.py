"""Data shares, data-subject requests, minors, the subject's export and what erasure leaves,
over HTTP, per API.md."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crypto.certificates import verify_certificate
from tests.e2e.conftest import Api, Tenant

PROBLEM = "application/problem+json"
SITI = {
    "full_name": "Siti Nurhaliza Rahmawati",
    "email": "siti.rahmawati@contoh.co.id",
    "phone": "0813-2222-4444",
    "company": "PT Teh Wangi",
}


def grant(api: Api, tenant: Tenant, contact_id: str, purpose: str) -> None:
    response = api.client.post(
        f"/v1/contacts/{contact_id}/consents",
        json={"purpose": purpose, "granted": True},
        headers=tenant.auth("agent"),
    )
    assert response.status_code == 201, response.text


def request_share(api: Api, tenant: Tenant, contact_id: str, **changes: Any) -> dict[str, Any]:
    body = {
        "contact_id": contact_id,
        "recipient": "PT Ekspedisi Nusantara",
        "purpose": "support",
        "fields": ["email", "phone"],
        **changes,
    }
    response = api.client.post("/v1/shares", json=body, headers=tenant.auth("agent"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def step(api: Api, tenant: Tenant, share_id: str, name: str, role: str, **body: Any) -> Any:
    return api.client.post(
        f"/v1/shares/{share_id}/{name}", json=body or None, headers=tenant.auth(role)
    )


def test_share_follows_the_policys_procedure_step_by_step(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **SITI)
    share = request_share(api, tenant, contact["id"])
    assert share["status"] == "requested" and share["fields"] == ["email", "phone"]
    sid = share["id"]

    before = api.event_count()
    for name, role, body in [
        ("execute", "agent", {}),
        ("authorize", "admin", {"agreement_ref": "PKS-001"}),
    ]:
        refused = step(api, tenant, sid, name, role, **body)
        assert refused.status_code == 409, name
        assert refused.json()["type"] == "urn:crm:problem:step-out-of-order"
    assert step(api, tenant, sid, "approve", "agent").status_code == 403
    assert step(api, tenant, sid, "approve", "admin").status_code == 403
    assert api.event_count() == before

    approved = step(api, tenant, sid, "approve", "pic")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.headers["etag"] == '"2"'
    assert step(api, tenant, sid, "authorize", "pic", agreement_ref="PKS-1").status_code == 403
    expires = (api.clock() + timedelta(days=30)).isoformat()
    authorized = step(
        api, tenant, sid, "authorize", "admin", agreement_ref="PKS-001", expires_at=expires
    )
    assert authorized.status_code == 200 and authorized.json()["agreement_ref"] == "PKS-001"

    no_consent = step(api, tenant, sid, "execute", "agent")
    assert no_consent.status_code == 409
    assert no_consent.json()["errors"][0]["purpose"] == "third_party_sharing"
    grant(api, tenant, contact["id"], "third_party_sharing")
    executed = step(api, tenant, sid, "execute", "agent")
    assert executed.status_code == 200, executed.text
    assert executed.json()["status"] == "executed"
    assert executed.json()["shared"] == {
        "email": "siti.rahmawati@contoh.co.id",
        "phone": "+6281322224444",
    }
    assert step(api, tenant, sid, "execute", "agent").status_code == 409

    revoked = step(api, tenant, sid, "revoke", "pic", reason="kerja sama berakhir")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    read = api.client.get(f"/v1/shares/{sid}", headers=tenant.auth("auditor")).json()
    assert [h["step"] for h in read["history"]] == [
        "requested",
        "approved",
        "authorized",
        "executed",
        "revoked",
    ]
    assert read["shared"] is None and "siti" not in str(read).lower()
    listed = api.client.get(
        "/v1/shares", params={"contact_id": contact["id"]}, headers=tenant.auth("pic")
    ).json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert listed["items"][0]["history"] == read["history"]


def test_expired_authorisation_blocks_the_share_until_renewed(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **SITI)
    grant(api, tenant, contact["id"], "third_party_sharing")
    sid = request_share(api, tenant, contact["id"])["id"]
    step(api, tenant, sid, "approve", "pic")
    in_an_hour = (api.clock() + timedelta(hours=1)).isoformat()
    step(api, tenant, sid, "authorize", "admin", agreement_ref="PKS-2", expires_at=in_an_hour)
    api.clock.advance(hours=2)
    before = api.event_count()
    expired = step(api, tenant, sid, "execute", "agent")
    assert expired.status_code == 409
    assert expired.json()["type"] == "urn:crm:problem:authorisation-expired"
    assert api.event_count() == before
    past = step(
        api, tenant, sid, "authorize", "admin", agreement_ref="PKS-3", expires_at=in_an_hour
    )
    assert past.status_code == 422
    renewed = step(api, tenant, sid, "authorize", "admin", agreement_ref="PKS-3")
    assert renewed.status_code == 200
    assert step(api, tenant, sid, "execute", "agent").status_code == 200


def test_stale_if_match_on_a_share_step_is_412(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    sid = request_share(api, tenant, contact["id"])["id"]
    stale = api.client.post(
        f"/v1/shares/{sid}/approve", headers={**tenant.auth("pic"), "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    fresh = api.client.post(
        f"/v1/shares/{sid}/approve", headers={**tenant.auth("pic"), "If-Match": '"1"'}
    )
    assert fresh.status_code == 200


def test_bad_share_requests_are_422_or_404_and_store_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    before = api.event_count()
    for changes, status in [
        ({"fields": []}, 422),
        ({"fields": ["password"]}, 422),
        ({"purpose": "reselling"}, 422),
        ({"recipient": ""}, 422),
        ({"contact_id": "not-a-uuid"}, 422),
        ({"contact_id": "00000000-0000-0000-0000-000000000000"}, 404),
        ({"fields": "email"}, 422),
    ]:
        body = {
            "contact_id": contact["id"],
            "recipient": "PT X",
            "purpose": "support",
            "fields": ["email"],
            **changes,
        }
        response = api.client.post("/v1/shares", json=body, headers=tenant.auth("agent"))
        assert response.status_code == status, changes
        assert response.headers["content-type"] == PROBLEM
    assert api.event_count() == before


def new_request(api: Api, tenant: Tenant, contact_id: str, **changes: Any) -> Any:
    body = {"contact_id": contact_id, "kind": "access", "requested_by": "subject", **changes}
    return api.client.post("/v1/requests", json=body, headers=tenant.auth("privacy_officer"))


def test_request_is_due_in_72_hours_and_shows_as_overdue_after(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    created = new_request(api, tenant, contact["id"])
    assert created.status_code == 201, created.text
    request = created.json()
    received = datetime.fromisoformat(request["received_at"])
    assert datetime.fromisoformat(request["due_at"]) - received == timedelta(hours=72)
    assert request["status"] == "open" and request["overdue"] is False

    queue = "/v1/requests"
    assert (
        api.client.get(queue, params={"overdue": True}, headers=tenant.auth("auditor")).json()[
            "items"
        ]
        == []
    )
    api.clock.advance(hours=72, seconds=1)
    overdue = api.client.get(queue, params={"overdue": True}, headers=tenant.auth("auditor"))
    assert [r["id"] for r in overdue.json()["items"]] == [request["id"]]
    assert overdue.json()["items"][0]["overdue"] is True
    on_time = api.client.get(queue, params={"overdue": False}, headers=tenant.auth("admin"))
    assert on_time.json()["items"] == []
    bad = api.client.get(queue, params={"status": "lost"}, headers=tenant.auth("admin"))
    assert bad.status_code == 422


def verify(api: Api, officer: dict[str, str], rid: str) -> None:
    verified = api.client.post(
        f"/v1/requests/{rid}/verify", json={"method": "document"}, headers=officer
    )
    assert verified.status_code == 200, verified.text


def test_request_moves_open_in_progress_rejected(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    rid = new_request(api, tenant, contact["id"], kind="rectification").json()["id"]
    officer = tenant.auth("privacy_officer")
    assert api.client.post(f"/v1/requests/{rid}/complete", headers=officer).status_code == 409
    started = api.client.post(f"/v1/requests/{rid}/start", headers=officer)
    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    no_reason = api.client.post(f"/v1/requests/{rid}/reject", json={}, headers=officer)
    assert no_reason.status_code == 422
    rejected = api.client.post(
        f"/v1/requests/{rid}/reject", json={"reason": "identity not verified"}, headers=officer
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected" and rejected.json()["closed_at"]
    assert api.client.post(f"/v1/requests/{rid}/start", headers=officer).status_code == 409
    listed = api.client.get(
        "/v1/requests", params={"status": "rejected"}, headers=tenant.auth("auditor")
    ).json()
    assert [(r["id"], r["reason"]) for r in listed["items"]] == [(rid, "identity not verified")]


def test_guardian_erasure_of_a_minor_recorded_without_age_is_carried_out(api: Api) -> None:
    tenant = api.new_tenant()
    child = api.new_contact(tenant, full_name="Anak Tanpa Umur", email="anak@contoh.id")
    aged = api.client.patch(
        f"/v1/contacts/{child['id']}", json={"age": 11}, headers=tenant.auth("agent")
    )
    assert aged.status_code == 422 and aged.json()["errors"][0]["rule"] == "minor-not-allowed"
    unstated = new_request(api, tenant, child["id"], kind="erasure", requested_by="guardian")
    assert unstated.status_code == 422
    assert unstated.json()["errors"][0]["field"] == "subject_is_minor"

    created = new_request(
        api, tenant, child["id"], kind="erasure", requested_by="guardian", subject_is_minor=True
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    officer = tenant.auth("privacy_officer")
    api.client.post(f"/v1/requests/{rid}/start", headers=officer)
    verify(api, officer, rid)
    completed = api.client.post(f"/v1/requests/{rid}/complete", headers=officer)
    assert completed.status_code == 200, completed.text
    done = completed.json()
    certificate = done["certificate"]
    assert done["status"] == "done" and done["erasure_id"] == certificate["erasure_id"]
    assert certificate["request_id"] == rid and certificate["subject_id"] == child["id"]
    assert verify_certificate(certificate, api.service.signer.public_key)
    read = api.client.get(f"/v1/contacts/{child['id']}", headers=tenant.auth("agent"))
    assert read.status_code == 410
    again = api.client.get(f"/v1/requests/{rid}", headers=tenant.auth("auditor")).json()
    assert again["status"] == "done" and again["certificate"] is None


def test_user_under_13_is_refused(api: Api) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    response = api.client.post(
        "/v1/users",
        json={"full_name": "Adik", "role": "agent", "age": 12},
        headers=tenant.auth("admin"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "minor-not-allowed"
    assert api.event_count() == before


def populated_subject(api: Api, tenant: Tenant) -> dict[str, Any]:
    contact = api.new_contact(tenant, **SITI)
    cid = contact["id"]
    api.client.patch(
        f"/v1/contacts/{cid}", json={"job_title": "Direktur"}, headers=tenant.auth("agent")
    )
    for purpose in ("third_party_sharing", "third_party_linking"):
        grant(api, tenant, cid, purpose)
    api.client.post(
        f"/v1/contacts/{cid}/activities",
        json={"kind": "message_sent", "ip": "203.0.113.9", "detail": "tanya harga grosir"},
        headers=tenant.auth("agent"),
    )
    api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "instagram", "handle": "siti.tehwangi"},
        headers=tenant.auth("agent"),
    )
    sid = request_share(api, tenant, cid)["id"]
    step(api, tenant, sid, "approve", "pic")
    step(api, tenant, sid, "authorize", "admin", agreement_ref="PKS-7")
    assert step(api, tenant, sid, "execute", "agent").status_code == 200
    new_request(api, tenant, cid)
    return {**contact, "share_id": sid}


def test_subject_export_holds_everything_decrypted(api: Api) -> None:
    tenant = api.new_tenant()
    subject = populated_subject(api, tenant)
    cid = subject["id"]
    assert (
        api.client.get(f"/v1/contacts/{cid}/export", headers=tenant.auth("agent")).status_code
        == 403
    )
    response = api.client.get(f"/v1/contacts/{cid}/export", headers=tenant.auth("privacy_officer"))
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["format"] == "crm.subject-export.v1"
    assert export["contact"]["email"] == SITI["email"]
    assert export["contact"]["job_title"] == "Direktur"
    assert [(h["type"], h["set"].get("job_title")) for h in export["history"]] == [
        ("Contact.Registered", None),
        ("Contact.Updated", "Direktur"),
    ]
    assert export["history"][0]["set"]["full_name"] == SITI["full_name"]
    assert {c["purpose"] for c in export["consents"]["history"]} == {
        "third_party_sharing",
        "third_party_linking",
    }
    assert export["activities"][0]["detail"] == "tanya harga grosir"
    assert export["linked_accounts"][0]["handle"] == "siti.tehwangi"
    assert export["shares"][0]["shared"] == {"email": SITI["email"], "phone": "+6281322224444"}
    assert [r["kind"] for r in export["requests"]] == ["access"]


def test_after_erasure_every_new_view_is_gone_or_marked_erased(api: Api) -> None:
    tenant = api.new_tenant()
    subject = populated_subject(api, tenant)
    cid, sid = subject["id"], subject["share_id"]
    erased = api.client.post(
        f"/v1/contacts/{cid}/erasure",
        json={"reason": "asked"},
        headers=tenant.auth("privacy_officer"),
    )
    assert erased.status_code == 200
    officer = tenant.auth("privacy_officer")
    for path in ("consents", "activities", "linked-accounts", "export"):
        response = api.client.get(f"/v1/contacts/{cid}/{path}", headers=officer)
        assert response.status_code == 410, path
        assert response.headers["content-type"] == PROBLEM
    for path, body in [
        ("consents", {"purpose": "marketing", "granted": True}),
        ("activities", {"kind": "login"}),
        ("linked-accounts", {"provider": "github", "handle": "x"}),
    ]:
        response = api.client.post(
            f"/v1/contacts/{cid}/{path}", json=body, headers=tenant.auth("agent")
        )
        assert response.status_code == 410, path
    share = api.client.get(f"/v1/shares/{sid}", headers=tenant.auth("auditor"))
    assert share.status_code == 200 and share.json()["contact_erased"] is True
    assert new_request(api, tenant, cid).status_code == 410
    marketing = api.client.get("/v1/exports/marketing", headers=tenant.auth("agent")).json()
    assert marketing["items"] == []
    audit = api.client.get(
        "/v1/audit/events", params={"limit": 500}, headers=tenant.auth("auditor")
    ).json()["items"]
    sealed_kinds = {"Activity.Recorded", "LinkedAccount.Linked", "DataShare.Executed"}
    markers = {e["type"]: set(e["personal"].values()) for e in audit if e["type"] in sealed_kinds}
    assert markers == {kind: {"erased"} for kind in sealed_kinds}
