"""Purposes, policy versions, consents, the marketing export, service data and linked
accounts over HTTP, per API.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.conftest import Api, Tenant

PROBLEM = "application/problem+json"


def grant(api: Api, tenant: Tenant, contact_id: str, purpose: str, **extra: Any) -> Any:
    response = api.client.post(
        f"/v1/contacts/{contact_id}/consents",
        json={"purpose": purpose, "granted": True, **extra},
        headers=tenant.auth("agent"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_purpose_catalogue_is_served_to_every_role(api: Api) -> None:
    tenant = api.new_tenant()
    for role in tenant.tokens:
        response = api.client.get("/v1/purposes", headers=tenant.auth(role))
        assert response.status_code == 200, role
    by_code = {p["code"]: p for p in response.json()}
    assert by_code["marketing"]["requires_consent"] is True
    assert by_code["marketing"]["legal_basis"] == "consent"
    assert by_code["legal"]["legal_basis"] == "legal_obligation"
    assert by_code["billing"]["requires_consent"] is False
    assert all(p["description"] for p in by_code.values())
    assert api.client.get("/v1/purposes").status_code == 401


def test_policy_version_is_published_once_and_the_one_in_force_is_recorded(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    published = api.client.post(
        "/v1/policies",
        json={"version": "2026-01-01", "document_url": "https://contoh.id/privasi"},
        headers=tenant.auth("admin"),
    )
    assert published.status_code == 201, published.text
    before = api.event_count()
    again = api.client.post(
        "/v1/policies", json={"version": "2026-01-01"}, headers=tenant.auth("admin")
    )
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert api.event_count() == before

    listed = api.client.get("/v1/policies", headers=tenant.auth("auditor")).json()
    assert [p["version"] for p in listed["items"]] == ["2026-01-01"]
    assert listed["current_version"] == "2026-01-01"

    consent = grant(api, tenant, contact["id"], "marketing")
    assert consent["policy_version"] == "2026-01-01"
    accepted = api.client.post(
        f"/v1/contacts/{contact['id']}/policy-acceptances",
        json={"source": "checkbox at sign-up"},
        headers=tenant.auth("agent"),
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["policy_version"] == "2026-01-01"
    view = api.client.get(
        f"/v1/contacts/{contact['id']}/consents", headers=tenant.auth("agent")
    ).json()
    assert view["accepted_policy_version"] == "2026-01-01"
    assert view["policy_acceptances"][0]["source"] == "checkbox at sign-up"
    audited = api.client.get(
        f"/v1/contacts/{contact['id']}/consents", headers=tenant.auth("auditor")
    ).json()  # an auditor sees every decision, never a sealed source
    assert audited["accepted_policy_version"] == "2026-01-01"
    assert audited["policy_acceptances"][0]["source"] is None


def test_future_policy_version_is_not_in_force_until_its_time(api: Api) -> None:
    tenant = api.new_tenant()
    later = (api.clock() + timedelta(days=1)).isoformat()
    api.client.post("/v1/policies", json={"version": "v1"}, headers=tenant.auth("admin"))
    api.client.post(
        "/v1/policies", json={"version": "v2", "effective_at": later}, headers=tenant.auth("admin")
    )
    assert (
        api.client.get("/v1/policies", headers=tenant.auth("agent")).json()["current_version"]
        == "v1"
    )
    api.clock.advance(days=2)
    assert (
        api.client.get("/v1/policies", headers=tenant.auth("agent")).json()["current_version"]
        == "v2"
    )


def test_consent_is_granted_withdrawn_and_shown_with_its_history(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    granted = grant(api, tenant, contact["id"], "marketing", source="formulir web")
    assert granted["granted"] is True and granted["source"] == "formulir web"
    withdrawn = api.client.post(
        f"/v1/contacts/{contact['id']}/consents",
        json={"purpose": "marketing", "granted": False},
        headers=tenant.auth("admin"),
    )
    assert withdrawn.status_code == 201
    view = api.client.get(
        f"/v1/contacts/{contact['id']}/consents", headers=tenant.auth("privacy_officer")
    ).json()
    current = {c["purpose"]: c for c in view["current"]}
    assert current["marketing"]["granted"] is False and current["marketing"]["decided_at"]
    assert current["training_data"] == {
        "purpose": "training_data",
        "granted": False,
        "policy_version": None,
        "given_by": None,
        "decided_at": None,
        "recorded_by": None,
    }
    assert [(h["purpose"], h["granted"], h["source"]) for h in view["history"]] == [
        ("marketing", True, "formulir web"),
        ("marketing", False, None),
    ]


def test_bad_consents_are_422_and_store_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    before = api.event_count()
    for body in (
        {"purpose": "selling_lists", "granted": True},
        {"purpose": "billing", "granted": True},
        {"purpose": "marketing", "granted": "yes"},
        {"purpose": "marketing"},
        {"purpose": "marketing", "granted": True, "policy_version": "never-published"},
        {"purpose": "marketing", "granted": True, "source": "a\x00b"},
        {"purpose": "marketing", "granted": True, "extra": 1},
    ):
        response = api.client.post(
            f"/v1/contacts/{contact['id']}/consents", json=body, headers=tenant.auth("agent")
        )
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
    unknown = api.client.post(
        f"/v1/contacts/{contact['id']}/consents",
        json={"purpose": "selling_lists", "granted": True},
        headers=tenant.auth("agent"),
    ).json()
    assert unknown["errors"] == [{"field": "purpose", "rule": "invalid-field"}]
    no_policy = api.client.post(
        f"/v1/contacts/{contact['id']}/policy-acceptances", json={}, headers=tenant.auth("agent")
    )
    assert no_policy.status_code == 422
    assert api.event_count() == before


def test_marketing_export_holds_only_contacts_with_current_marketing_consent(api: Api) -> None:
    tenant = api.new_tenant()
    yes = [api.new_contact(tenant, full_name=f"Ya {i}", email=f"ya{i}@contoh.id") for i in range(3)]
    withdrawn = api.new_contact(tenant, full_name="Tarik")
    never = api.new_contact(tenant, full_name="Belum")
    for contact in (*yes, withdrawn):
        grant(api, tenant, contact["id"], "marketing")
    grant(api, tenant, never["id"], "training_data")
    api.client.post(
        f"/v1/contacts/{withdrawn['id']}/consents",
        json={"purpose": "marketing", "granted": False},
        headers=tenant.auth("agent"),
    )
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/exports/marketing", params=params, headers=tenant.auth("agent"))
        assert page.status_code == 200
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(c["id"] for c in seen) == sorted(c["id"] for c in yes)
    assert {c["email"] for c in seen} == {"ya0@contoh.id", "ya1@contoh.id", "ya2@contoh.id"}


USAGE = {
    "kind": "page_view",
    "occurred_at": "2026-01-05T08:30:00+07:00",
    "ip": "2001:db8::17",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0",
    "device": "Laptop Lenovo ThinkPad",
    "location": "Jakarta Selatan",
    "referrer": "https://mesin-cari.example/?q=crm",
    "detail": "membuka halaman harga selama 95 detik",
}


def test_activity_is_recorded_sealed_and_listed(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    created = api.client.post(
        f"/v1/contacts/{contact['id']}/activities", json=USAGE, headers=tenant.auth("agent")
    )
    assert created.status_code == 201, created.text
    activity = created.json()
    assert activity["occurred_at"] == "2026-01-05T01:30:00Z"
    assert activity["detail"] == USAGE["detail"] and activity["ip"] == "2001:db8::17"
    listed = api.client.get(
        f"/v1/contacts/{contact['id']}/activities", headers=tenant.auth("privacy_officer")
    ).json()
    assert listed["items"] == [activity]

    stored = b"".join(
        bytes(n.state) for n in api.service.crm.recorder.select_notifications(start=1, limit=10_000)
    )
    for field in ("user_agent", "device", "location", "referrer", "detail"):
        assert USAGE[field].encode() not in stored, field
    audit = api.client.get(
        "/v1/audit/events", params={"limit": 500}, headers=tenant.auth("auditor")
    ).json()["items"]
    recorded = [e for e in audit if e["type"] == "Activity.Recorded"]
    assert recorded[0]["personal"] == {
        f: "sealed" for f in USAGE if f not in ("kind", "occurred_at")
    }


def test_bad_activities_are_422_and_store_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    future = (api.clock() + timedelta(hours=1)).isoformat()
    before = api.event_count()
    for body in (
        {"kind": "Page View"},
        {"kind": "login", "ip": "300.1.1.1"},
        {"kind": "login", "occurred_at": "2026-01-05T08:30:00"},
        {"kind": "login", "occurred_at": "kemarin"},
        {"kind": "login", "occurred_at": future},
        {"kind": "login", "password": "x"},
        {"ip": "1.2.3.4"},
    ):
        response = api.client.post(
            f"/v1/contacts/{contact['id']}/activities", json=body, headers=tenant.auth("agent")
        )
        assert response.status_code == 422, body
    assert api.event_count() == before


def test_linking_needs_consent_then_links_and_unlinks(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    path = f"/v1/contacts/{contact['id']}/linked-accounts"
    body = {"provider": "whatsapp_business", "handle": "0812 9999 0001"}
    before = api.event_count()
    refused = api.client.post(path, json=body, headers=tenant.auth("agent"))
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["errors"] == [
        {"purpose": "third_party_linking", "reason": "no-consent", "rule": "consent-required"}
    ]
    assert "third_party_linking" in refused.json()["detail"]
    assert api.event_count() == before

    grant(api, tenant, contact["id"], "third_party_linking")
    linked = api.client.post(path, json=body, headers=tenant.auth("agent"))
    assert linked.status_code == 201, linked.text
    link = linked.json()
    assert link["handle"] == "+6281299990001" and link["status"] == "linked"
    bad = api.client.post(
        path, json={"provider": "myspace", "handle": "x"}, headers=tenant.auth("agent")
    )
    assert bad.status_code == 422

    unlinked = api.client.delete(f"{path}/{link['id']}", headers=tenant.auth("agent"))
    assert unlinked.status_code == 200 and unlinked.json()["status"] == "unlinked"
    again = api.client.delete(f"{path}/{link['id']}", headers=tenant.auth("agent"))
    assert again.status_code == 409
    listed = api.client.get(path, headers=tenant.auth("privacy_officer")).json()["items"]
    assert [(i["provider"], i["status"], i["handle"]) for i in listed] == [
        ("whatsapp_business", "unlinked", "+6281299990001")
    ]


def test_withdrawn_linking_consent_blocks_new_links(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    grant(api, tenant, contact["id"], "third_party_linking")
    api.client.post(
        f"/v1/contacts/{contact['id']}/consents",
        json={"purpose": "third_party_linking", "granted": False},
        headers=tenant.auth("agent"),
    )
    refused = api.client.post(
        f"/v1/contacts/{contact['id']}/linked-accounts",
        json={"provider": "github", "handle": "agus-w"},
        headers=tenant.auth("agent"),
    )
    assert refused.status_code == 409
