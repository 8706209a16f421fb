"""ETag on single resources, If-Match preconditions on writes (API.md conventions)."""

from __future__ import annotations

from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api
from tests.faults import TimingOutSigner


def test_every_single_resource_response_carries_its_version_etag(api: Api) -> None:
    tenant_response = api.client.post(
        "/v1/tenants", json={"name": "Toko"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert tenant_response.headers["etag"] == '"1"'
    admin = {"Authorization": f"Bearer {tenant_response.json()['admin_token']}"}
    user = api.client.post(
        "/v1/users",
        json={"full_name": "Sari", "email": "sari@toko.id", "role": "agent", "password": "p" * 12},
        headers=admin,
    )
    assert user.headers["etag"] == '"1"'
    session = api.client.post(
        "/v1/sessions",
        json={
            "tenant_id": tenant_response.json()["id"],
            "email": "sari@toko.id",
            "password": "p" * 12,
        },
    )
    assert session.headers["etag"] == '"2"'  # the user, after its second token was issued
    agent = {"Authorization": f"Bearer {session.json()['token']}"}
    created = api.client.post("/v1/contacts", json={"full_name": "Budi"}, headers=agent)
    assert created.headers["etag"] == '"1"'
    cid = created.json()["id"]
    patched = api.client.patch(f"/v1/contacts/{cid}", json={"age": 40}, headers=agent)
    assert patched.headers["etag"] == '"2"'
    read = api.client.get(f"/v1/contacts/{cid}", headers=agent)
    assert read.headers["etag"] == '"2"' and read.json()["version"] == 2

    officer = api.client.post(
        "/v1/users", json={"full_name": "P", "role": "privacy_officer"}, headers=admin
    ).json()["token"]
    erased = api.client.post(
        f"/v1/contacts/{cid}/erasure",
        json={"reason": "request"},
        headers={"Authorization": f"Bearer {officer}"},
    )
    assert erased.headers["etag"] == '"1"'  # a certificate never changes
    served = api.client.get(
        f"/v1/erasures/{erased.json()['id']}", headers={"Authorization": f"Bearer {officer}"}
    )
    assert served.headers["etag"] == '"1"'


def test_recorded_consents_activities_and_links_carry_their_version_etag(api: Api) -> None:
    tenant = api.new_tenant()
    cid = api.new_contact(tenant)["id"]
    agent = tenant.auth("agent")
    api.client.post("/v1/policies", json={"version": "v1"}, headers=tenant.auth("admin"))
    consent = {"purpose": "third_party_linking", "granted": True}
    granted = api.client.post(f"/v1/contacts/{cid}/consents", json=consent, headers=agent)
    accepted = api.client.post(f"/v1/contacts/{cid}/policy-acceptances", json={}, headers=agent)
    activity = api.client.post(
        f"/v1/contacts/{cid}/activities", json={"kind": "page_view"}, headers=agent
    )
    link = api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "github", "handle": "budi"},
        headers=agent,
    )
    unlinked = api.client.delete(
        f"/v1/contacts/{cid}/linked-accounts/{link.json()['id']}", headers=agent
    )
    answers = (granted, accepted, activity, link, unlinked)
    assert [r.status_code for r in answers] == [201, 201, 201, 201, 200]
    # The consent record (opened, granted, accepted), the activity, the link before and after.
    assert [r.headers.get("etag") for r in answers] == ['"2"', '"3"', '"1"', '"1"', '"2"']


def test_stale_if_match_on_erasure_is_412_and_destroys_no_key(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    api.client.patch(
        f"/v1/contacts/{contact['id']}", json={"age": 40}, headers=tenant.auth("agent")
    )
    before = api.event_count()
    stale = api.client.post(
        f"/v1/contacts/{contact['id']}/erasure",
        json={"reason": "request"},
        headers={**tenant.auth("privacy_officer"), "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert api.event_count() == before
    still = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent"))
    assert still.status_code == 200 and still.json()["full_name"] == "Agus Wibowo"
    current = api.client.post(
        f"/v1/contacts/{contact['id']}/erasure",
        json={"reason": "request"},
        headers={**tenant.auth("privacy_officer"), "If-Match": '"2"'},
    )
    assert current.status_code == 200


def test_if_match_star_accepts_any_current_version(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    response = api.client.patch(
        f"/v1/contacts/{contact['id']}",
        json={"age": 40},
        headers={**tenant.auth("agent"), "If-Match": "*"},
    )
    assert response.status_code == 200


def test_if_match_that_is_not_a_version_is_412_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    before = api.event_count()
    # b'"\xb2"' reads as "²" in latin-1: a digit to str.isdigit, not to int().
    for tag in (b'"abc"', b'"\xb2"', b'"99999999999999999999999"', b"W/"):
        response = api.client.patch(
            f"/v1/contacts/{contact['id']}",
            json={"age": 40},
            headers={**tenant.auth("agent"), "If-Match": tag},  # bytes: sent as they are
        )
        assert response.status_code == 412, tag
    assert api.event_count() == before


def test_a_signer_that_times_out_answers_503_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    ledger = api.service.crm.ledger
    real, ledger.signer = ledger.signer, TimingOutSigner(ledger.signer)
    try:
        refused = api.client.post(
            "/v1/contacts", json={"full_name": "Rina Kusuma"}, headers=tenant.auth("agent")
        )
    finally:
        ledger.signer = real
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "urn:crm:problem:commit-failed"
    assert api.event_count() == before
    retried = api.client.post(
        "/v1/contacts", json={"full_name": "Rina Kusuma"}, headers=tenant.auth("agent")
    )
    assert retried.status_code == 201


def test_a_read_whose_access_record_cannot_be_kept_answers_503_without_the_values(
    api: Api,
) -> None:
    tenant = api.new_tenant()
    agent = tenant.auth("agent")
    contact = api.new_contact(tenant, full_name="Rina Kusuma", email="rina.k@contoh.id")
    records = len(api.access_records())
    ledger = api.service.crm.ledger
    real, ledger.signer = ledger.signer, TimingOutSigner(ledger.signer)
    try:
        refused = api.client.get(f"/v1/contacts/{contact['id']}", headers=agent)
    finally:
        ledger.signer = real
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "urn:crm:problem:access-not-recorded"
    assert "Rina" not in refused.text and "rina.k" not in refused.text
    assert len(api.access_records()) == records  # nothing half-kept
    read = api.client.get(f"/v1/contacts/{contact['id']}", headers=agent)
    assert read.status_code == 200 and read.json()["full_name"] == "Rina Kusuma"
    assert len(api.access_records()) == records + 1
