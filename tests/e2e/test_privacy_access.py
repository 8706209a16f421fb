"""The privacy-policy endpoints refuse wrong roles (403) and other tenants' ids (404), store
nothing when they refuse, keep personal values out of the database and the logs, and are
described by the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.e2e.conftest import Api, Tenant
from tests.harness import PostgresServer

NEW_ENDPOINTS = [
    ("get", "/v1/purposes"),
    ("post", "/v1/policies"),
    ("get", "/v1/policies"),
    ("post", "/v1/contacts/{contact_id}/consents"),
    ("get", "/v1/contacts/{contact_id}/consents"),
    ("post", "/v1/contacts/{contact_id}/policy-acceptances"),
    ("get", "/v1/exports/marketing"),
    ("post", "/v1/contacts/{contact_id}/activities"),
    ("get", "/v1/contacts/{contact_id}/activities"),
    ("post", "/v1/contacts/{contact_id}/linked-accounts"),
    ("get", "/v1/contacts/{contact_id}/linked-accounts"),
    ("delete", "/v1/contacts/{contact_id}/linked-accounts/{link_id}"),
    ("post", "/v1/shares"),
    ("get", "/v1/shares"),
    ("get", "/v1/shares/{share_id}"),
    ("post", "/v1/shares/{share_id}/approve"),
    ("post", "/v1/shares/{share_id}/authorize"),
    ("post", "/v1/shares/{share_id}/execute"),
    ("post", "/v1/shares/{share_id}/revoke"),
    ("post", "/v1/requests"),
    ("get", "/v1/requests"),
    ("get", "/v1/requests/{request_id}"),
    ("post", "/v1/requests/{request_id}/start"),
    ("post", "/v1/requests/{request_id}/verify"),
    ("post", "/v1/requests/{request_id}/complete"),
    ("post", "/v1/requests/{request_id}/reject"),
    ("get", "/v1/contacts/{contact_id}/export"),
]
# Who may not call what, per API.md's table (and, for the endpoints API.md leaves open, the
# roles documented in the README).
FORBIDDEN = [
    ("post", "/v1/policies", ("agent", "pic", "privacy_officer", "auditor")),
    ("post", "/v1/contacts/{contact_id}/consents", ("pic", "privacy_officer", "auditor")),
    ("get", "/v1/contacts/{contact_id}/consents", ("pic",)),
    ("post", "/v1/contacts/{contact_id}/policy-acceptances", ("pic", "auditor")),
    ("get", "/v1/exports/marketing", ("pic", "privacy_officer", "auditor")),
    ("post", "/v1/contacts/{contact_id}/activities", ("pic", "privacy_officer", "auditor")),
    ("get", "/v1/contacts/{contact_id}/activities", ("pic", "auditor")),
    ("post", "/v1/contacts/{contact_id}/linked-accounts", ("pic", "privacy_officer")),
    ("delete", "/v1/contacts/{contact_id}/linked-accounts/{link_id}", ("pic", "auditor")),
    ("post", "/v1/shares", ("pic", "privacy_officer", "auditor")),
    ("get", "/v1/shares/{share_id}", ("privacy_officer",)),
    ("get", "/v1/shares", ("privacy_officer",)),
    ("post", "/v1/shares/{share_id}/approve", ("admin", "agent", "privacy_officer", "auditor")),
    ("post", "/v1/shares/{share_id}/authorize", ("agent", "pic", "privacy_officer")),
    ("post", "/v1/shares/{share_id}/execute", ("pic", "privacy_officer", "auditor")),
    ("post", "/v1/shares/{share_id}/revoke", ("agent", "privacy_officer", "auditor")),
    ("post", "/v1/requests", ("agent", "pic", "auditor")),
    ("get", "/v1/requests", ("agent", "pic")),
    ("get", "/v1/requests/{request_id}", ("agent", "pic")),
    ("post", "/v1/requests/{request_id}/start", ("agent", "pic", "auditor")),
    ("post", "/v1/requests/{request_id}/verify", ("agent", "pic", "auditor")),
    ("post", "/v1/requests/{request_id}/complete", ("agent", "pic", "auditor")),
    ("post", "/v1/requests/{request_id}/reject", ("agent", "pic", "auditor")),
    ("get", "/v1/contacts/{contact_id}/export", ("admin", "agent", "pic", "auditor")),
]
BODY_IDS = {("post", "/v1/shares"), ("post", "/v1/requests")}  # contact_id in the body
BODIES: dict[str, dict[str, Any]] = {
    "/v1/policies": {"version": "v9"},
    "/v1/contacts/{contact_id}/consents": {"purpose": "marketing", "granted": True},
    "/v1/contacts/{contact_id}/policy-acceptances": {},
    "/v1/contacts/{contact_id}/activities": {"kind": "login"},
    "/v1/contacts/{contact_id}/linked-accounts": {"provider": "github", "handle": "x"},
    "/v1/shares": {"recipient": "PT X", "purpose": "support", "fields": ["email"]},
    "/v1/shares/{share_id}/authorize": {"agreement_ref": "PKS"},
    "/v1/shares/{share_id}/revoke": {"reason": "ended"},
    "/v1/requests": {"kind": "access", "requested_by": "subject"},
    "/v1/requests/{request_id}/reject": {"reason": "not verified"},
    "/v1/requests/{request_id}/verify": {"method": "document"},
}


def resources(api: Api, tenant: Tenant) -> dict[str, str]:
    """A contact with a link, a share and an erasure request, in ``tenant``."""
    contact = api.new_contact(tenant, email="pemilik@contoh.id")
    cid = contact["id"]
    for purpose in ("third_party_linking", "third_party_sharing"):
        api.client.post(
            f"/v1/contacts/{cid}/consents",
            json={"purpose": purpose, "granted": True},
            headers=tenant.auth("agent"),
        )
    link = api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "github", "handle": "pemilik"},
        headers=tenant.auth("agent"),
    ).json()
    share = api.client.post(
        "/v1/shares",
        json={"contact_id": cid, "recipient": "PT X", "purpose": "support", "fields": ["email"]},
        headers=tenant.auth("agent"),
    ).json()
    request = api.client.post(
        "/v1/requests",
        json={"contact_id": cid, "kind": "erasure", "requested_by": "subject"},
        headers=tenant.auth("privacy_officer"),
    ).json()
    return {
        "contact_id": cid,
        "link_id": link["id"],
        "share_id": share["id"],
        "request_id": request["id"],
    }


def call(api: Api, tenant: Tenant, role: str, method: str, path: str, ids: dict[str, str]) -> Any:
    body = BODIES.get(path) if method == "post" else None
    if (method, path) in BODY_IDS:
        body = {**(body or {}), "contact_id": ids["contact_id"]}
    return api.client.request(method, path.format(**ids), json=body, headers=tenant.auth(role))


def test_new_endpoints_refuse_wrong_roles_with_403_and_store_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    ids = resources(api, tenant)
    before = api.event_count()
    for method, path, roles in FORBIDDEN:
        for role in roles:
            response = call(api, tenant, role, method, path, ids)
            assert response.status_code == 403, (method, path, role, response.text)
    assert api.event_count() == before
    for method, path in NEW_ENDPOINTS:
        no_token = api.client.request(method, path.format(**ids))
        assert no_token.status_code == 401, (method, path)


def test_another_tenants_ids_are_404_everywhere_and_store_nothing(api: Api) -> None:
    mine, theirs = api.new_tenant("Mine"), api.new_tenant("Theirs")
    ids = resources(api, theirs)
    role_for = {
        "/v1/shares/{share_id}/approve": "pic",
        "/v1/shares/{share_id}/authorize": "admin",
        "/v1/requests": "privacy_officer",
        "/v1/requests/{request_id}": "privacy_officer",
        "/v1/requests/{request_id}/start": "privacy_officer",
        "/v1/requests/{request_id}/verify": "privacy_officer",
        "/v1/requests/{request_id}/complete": "privacy_officer",
        "/v1/requests/{request_id}/reject": "privacy_officer",
        "/v1/contacts/{contact_id}/export": "privacy_officer",
    }
    before = api.event_count()
    for method, path in NEW_ENDPOINTS:
        names_an_id = "{" in path or (method, path) in BODY_IDS
        if not names_an_id:
            continue  # the catalogue, policies and lists: lists are checked below
        response = call(api, mine, role_for.get(path, "admin"), method, path, ids)
        assert response.status_code == 404, (method, path, response.text)
    assert api.event_count() == before
    listed = api.client.get(
        "/v1/shares", params={"contact_id": ids["contact_id"]}, headers=mine.auth("admin")
    )
    assert listed.json()["items"] == []
    queue = api.client.get("/v1/requests", headers=mine.auth("auditor"))
    assert queue.json()["items"] == []
    theirs_still = api.client.get(f"/v1/shares/{ids['share_id']}", headers=theirs.auth("admin"))
    assert theirs_still.status_code == 200


def test_malformed_ids_in_paths_are_404(api: Api) -> None:
    tenant = api.new_tenant()
    for path in ("/v1/shares/not-a-uuid", "/v1/requests/not-a-uuid"):
        assert api.client.get(path, headers=tenant.auth("auditor")).status_code == 404, path


SECRETS = {
    "source": "formulir Kartika Sekarwangi",
    "user_agent": "AgenRahasia/9.9 (KartikaPhone)",
    "location": "Desa Sukamaju Rahasia",
    "detail": "bertanya tentang utang Kartika",
    "handle": "kartika_sekarwangi_rahasia",
    "email": "kartika.sekarwangi@surel-rahasia.id",
}


def leaks(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [k for k, v in SECRETS.items() if v.lower().encode() in lowered]


def test_new_personal_values_never_reach_the_database_or_the_logs(
    api: Api, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, full_name="Kartika", email=SECRETS["email"])
    cid = contact["id"]
    agent = tenant.auth("agent")
    for purpose in ("third_party_linking", "third_party_sharing"):
        api.client.post(
            f"/v1/contacts/{cid}/consents",
            json={"purpose": purpose, "granted": True, "source": SECRETS["source"]},
            headers=agent,
        )
    api.client.post(
        f"/v1/contacts/{cid}/activities",
        json={
            "kind": "message_sent",
            **{k: SECRETS[k] for k in ("user_agent", "location", "detail")},
        },
        headers=agent,
    )
    api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "telegram", "handle": SECRETS["handle"]},
        headers=agent,
    )
    sid = api.client.post(
        "/v1/shares",
        json={"contact_id": cid, "recipient": "PT X", "purpose": "support", "fields": ["email"]},
        headers=agent,
    ).json()["id"]
    api.client.post(f"/v1/shares/{sid}/approve", headers=tenant.auth("pic"))
    api.client.post(
        f"/v1/shares/{sid}/authorize", json={"agreement_ref": "PKS"}, headers=tenant.auth("admin")
    )
    executed = api.client.post(f"/v1/shares/{sid}/execute", headers=agent)
    assert executed.json()["shared"] == {"email": SECRETS["email"]}
    bad = api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "email", "handle": SECRETS["handle"]},  # not an address: 422
        headers=agent,
    )
    assert bad.status_code == 422 and SECRETS["handle"] not in bad.text

    settings = api.service.settings
    events_db = settings.database_url.rsplit("/", 1)[1]
    keys_db = settings.keystore_url.rsplit("/", 1)[1]
    dump = postgres_server.pg_dump(events_db)
    assert b"activities_view" in dump and b"share_steps_view" in dump
    assert leaks(dump) == []
    assert leaks(postgres_server.pg_dump(keys_db)) == []
    assert leaks(caplog.text.encode()) == []
    assert caplog.records  # the access log was captured


def test_openapi_describes_every_new_endpoint(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for method, path in NEW_ENDPOINTS:
        assert method in paths[path], (method, path)
    assert "409" in paths["/v1/shares/{share_id}/execute"]["post"]["responses"]
    assert "422" in paths["/v1/contacts/{contact_id}/consents"]["post"]["responses"]
