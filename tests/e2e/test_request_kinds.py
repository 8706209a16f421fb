"""Every data-subject right of UU PDP as a request kind, over HTTP: the whole life of each
(receive, verify the requester, start, complete), its effects visible through the API, the
notice recorded, and the 72-hour clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from service.portability import verify_package
from tests.e2e.conftest import Api, Tenant
from tests.e2e.test_processing_trail import ready_share

CHILD_SAFE_AGE = 30


def subject(api: Api, tenant: Tenant) -> str:
    """A contact consenting to marketing and linking, with a link and a pending share."""
    agent = tenant.auth("agent")
    api.client.post("/v1/policies", json={"version": "2026-01"}, headers=tenant.auth("admin"))
    cid = str(
        api.new_contact(
            tenant, full_name="Dewi Lestari", email="dewi@contoh.id", age=CHILD_SAFE_AGE
        )["id"]
    )
    for purpose in ("marketing", "third_party_linking", "third_party_sharing"):
        granted = api.client.post(
            f"/v1/contacts/{cid}/consents",
            json={"purpose": purpose, "granted": True},
            headers=agent,
        )
        assert granted.status_code == 201, granted.text
    linked = api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "telegram", "handle": "@dewi_l"},
        headers=agent,
    )
    assert linked.status_code == 201, linked.text
    return cid


def work(api: Api, tenant: Tenant, cid: str, kind: str, **extra: Any) -> dict[str, Any]:
    """Receive, verify, start and complete a request; the completed request."""
    officer = tenant.auth("privacy_officer")
    created = api.client.post(
        "/v1/requests",
        json={"contact_id": cid, "kind": kind, "requested_by": "subject", **extra},
        headers=officer,
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    api.client.post(f"/v1/requests/{rid}/start", headers=officer)
    early = api.client.post(f"/v1/requests/{rid}/complete", headers=officer)
    assert early.status_code == 409 and early.json()["type"].endswith("identity-not-verified")
    verified = api.client.post(
        f"/v1/requests/{rid}/verify",
        json={"method": "document", "note": "KTP 3201 diperiksa"},
        headers=officer,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["verification"]["method"] == "document"
    completed = api.client.post(f"/v1/requests/{rid}/complete", headers=officer)
    assert completed.status_code == 200, completed.text
    done: dict[str, Any] = completed.json()
    assert done["status"] == "done"
    assert done["notice"]["content"] == f"{kind}-done"
    assert done["notice"]["channel"] == "subject_contact"
    return done


def test_access_and_erasure_requests_are_worked_the_same_way(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    work(api, tenant, cid, "access")
    erased = work(api, tenant, cid, "erasure")
    assert erased["effects"] == ["erased"] and erased["certificate"]["subject_id"] == cid
    gone = api.client.get(f"/v1/contacts/{cid}", headers=tenant.auth("agent"))
    assert gone.status_code == 410


def test_every_kind_is_due_in_72_hours_and_overdue_after(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    officer = tenant.auth("privacy_officer")
    kinds = [
        "access",
        "rectification",
        "erasure",
        "information",
        "restriction",
        "lift_restriction",
        "withdrawal",
        "objection",
        "portability",
    ]
    for kind in kinds:
        created = api.client.post(
            "/v1/requests",
            json={"contact_id": cid, "kind": kind, "requested_by": "subject"},
            headers=officer,
        )
        assert created.status_code == 201, created.text
    api.clock.advance(hours=72, seconds=1)
    late = api.client.get("/v1/requests", params={"overdue": True}, headers=officer).json()
    assert sorted(r["kind"] for r in late["items"]) == sorted(kinds)


def test_restriction_refuses_processing_until_it_is_lifted(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    agent = tenant.auth("agent")
    done = work(api, tenant, cid, "restriction")
    assert "restricted" in done["effects"]

    read = api.client.get(f"/v1/contacts/{cid}", headers=agent)
    assert read.status_code == 409
    assert read.json()["errors"][0]["reason"] == "restricted"
    before = api.command_events()
    patched = api.client.patch(f"/v1/contacts/{cid}", json={"job_title": "X"}, headers=agent)
    assert patched.status_code == 409 and api.command_events() == before
    export = api.client.get(f"/v1/contacts/{cid}/export", headers=tenant.auth("privacy_officer"))
    assert export.status_code == 200  # the subject's own access stays allowed

    work(api, tenant, cid, "lift_restriction")
    assert api.client.get(f"/v1/contacts/{cid}", headers=agent).status_code == 200


def test_a_restriction_of_named_purposes_leaves_the_others(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    agent = tenant.auth("agent")
    work(api, tenant, cid, "restriction", purposes=["marketing"])
    assert api.client.get(f"/v1/contacts/{cid}", headers=agent).status_code == 200
    audience = api.client.get("/v1/exports/marketing", headers=agent).json()
    assert [i["id"] for i in audience["items"]] == []
    named = api.client.get(f"/v1/contacts/{cid}", params={"purpose": "marketing"}, headers=agent)
    assert named.status_code == 409 and named.json()["errors"][0] == {
        "purpose": "marketing",
        "reason": "restricted",
        "rule": "processing-refused",
    }


def test_objection_refuses_the_purposes_objected_to(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    agent = tenant.auth("agent")
    purposes = api.client.get("/v1/purposes", headers=agent).json()
    automated = {p["code"] for p in purposes if p["automated_decisions"]}
    assert automated == {"service_improvement", "marketing", "training_data"}
    done = work(api, tenant, cid, "objection", purposes=["service_improvement"])
    assert "objected" in done["effects"]
    activities = api.client.get(f"/v1/contacts/{cid}/activities", headers=agent)
    assert activities.status_code == 409
    assert activities.json()["errors"][0]["reason"] == "objected"
    assert api.client.get(f"/v1/contacts/{cid}", headers=agent).status_code == 200


def test_withdrawal_withdraws_consents_and_what_rested_on_them_at_once(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    agent = tenant.auth("agent")
    share = ready_share(api, tenant, cid, ["email"])
    done = work(api, tenant, cid, "withdrawal", purposes=["third_party_linking", "marketing"])
    assert "consent-withdrawn:marketing" in done["effects"]
    assert any(e.startswith("unlinked:") for e in done["effects"])
    consents = api.client.get(f"/v1/contacts/{cid}/consents", headers=agent).json()
    current = {c["purpose"]: c["granted"] for c in consents["current"]}
    assert current["marketing"] is False and current["third_party_linking"] is False
    assert current["third_party_sharing"] is True  # not named
    listed = api.client.get(
        f"/v1/contacts/{cid}/linked-accounts",
        params={"purpose": "account_management"},
        headers=agent,
    ).json()
    assert [link["status"] for link in listed["items"]] == ["unlinked"]
    marketing = api.client.get("/v1/exports/marketing", headers=agent).json()
    assert marketing["items"] == []
    still = api.client.get(f"/v1/shares/{share}", headers=agent).json()
    assert still["status"] == "authorized"  # it rests on third_party_sharing, not withdrawn

    everything = work(api, tenant, cid, "withdrawal")
    assert f"share-revoked:{share}" in everything["effects"]
    revoked = api.client.get(f"/v1/shares/{share}", headers=agent).json()
    assert revoked["status"] == "revoked"


def test_rectification_applies_the_corrections_it_carries(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    done = work(
        api, tenant, cid, "rectification", changes={"email": "dewi.benar@contoh.id", "age": None}
    )
    assert done["changed_fields"] == ["age", "email"]
    assert done["effects"] == ["rectified:age", "rectified:email"]
    contact = api.client.get(f"/v1/contacts/{cid}", headers=tenant.auth("agent")).json()
    assert contact["email"] == "dewi.benar@contoh.id" and contact["age"] is None


def test_information_says_what_is_held_why_how_long_and_with_whom(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    ready_share(api, tenant, cid, ["email"])
    done = work(api, tenant, cid, "information")
    info = done["information"]
    assert info["held"]["contact"] == ["age", "email", "full_name"]
    marketing = next(p for p in info["purposes"] if p["purpose"] == "marketing")
    assert marketing == {**marketing, "consent": "granted", "retention": "not set"}
    assert [s["recipient"] for s in info["shared_with"]] == ["Mitra Jejak"]
    assert "dewi@contoh.id" not in str(info)  # what is held, never the values


def test_portability_answers_with_a_package_signed_by_the_certificate_key(api: Api) -> None:
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    done = work(api, tenant, cid, "portability")
    package = done["package"]
    assert package["format"] == "crm.portability.v1" and package["subject_id"] == cid
    assert "FN:Dewi Lestari" in package["vcard"] and "consents.csv" in package["csv"]
    assert verify_package(package, api.service.signer.public_key)
    records = [r for r in api.access_records() if r["operation"].endswith("/complete")]
    assert records[-1]["purpose"] == "subject_request" and cid in records[-1]["subject_ids"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "access", "purposes": ["marketing"]},
        {"kind": "withdrawal", "purposes": ["billing"]},
        {"kind": "objection", "purposes": ["billing"]},
        {"kind": "erasure", "changes": {"email": "x@contoh.id"}},
        {"kind": "restriction", "purposes": []},
    ],
)
def test_purposes_and_changes_only_where_the_kind_takes_them(
    api: Api, body: dict[str, Any]
) -> None:
    tenant = api.new_tenant()
    cid = api.new_contact(tenant)["id"]
    before = api.command_events()
    refused = api.client.post(
        "/v1/requests",
        json={"contact_id": cid, "requested_by": "subject", **body},
        headers=tenant.auth("privacy_officer"),
    )
    assert refused.status_code == 422, refused.text
    assert api.command_events() == before


def test_a_rejection_records_the_notice_too(api: Api) -> None:
    tenant = api.new_tenant()
    cid = api.new_contact(tenant)["id"]
    officer = tenant.auth("privacy_officer")
    rid = api.client.post(
        "/v1/requests",
        json={"contact_id": cid, "kind": "portability", "requested_by": "subject"},
        headers=officer,
    ).json()["id"]
    rejected = api.client.post(
        f"/v1/requests/{rid}/reject", json={"reason": "identitas tidak cocok"}, headers=officer
    )
    assert rejected.json()["notice"]["content"] == "portability-rejected"
    assert rejected.json()["verification"] is None


def test_limits_read_with_the_contact_rows_decide_reads_searches_and_pages(
    api_on: Callable[[str], Api], backend: str
) -> None:
    """A read decides from the limits its own row query returned (aggregated in SQL, one
    query on either engine): a restriction of two purposes and an objection to a third all
    refuse, in a single read, a search and a page alike; other purposes still open."""
    api = api_on(backend)
    tenant = api.new_tenant()
    cid = subject(api, tenant)
    agent = tenant.auth("agent")
    work(api, tenant, cid, "restriction", purposes=["marketing", "follow_up"])
    work(api, tenant, cid, "objection", purposes=["service_improvement"])
    reasons = {
        "marketing": "restricted",
        "follow_up": "restricted",
        "service_improvement": "objected",
    }
    for purpose, reason in reasons.items():
        named = {"purpose": purpose}
        one = api.client.get(f"/v1/contacts/{cid}", params=named, headers=agent)
        assert one.status_code == 409 and one.json()["errors"][0]["reason"] == reason
        search = {**named, "email": "dewi@contoh.id"}
        for params in (search, named):
            listed = api.client.get("/v1/contacts", params=params, headers=agent).json()
            assert listed["items"] == [
                {"id": cid, "refused": {"purpose": purpose, "reason": reason}}
            ]
    opened = api.client.get(f"/v1/contacts/{cid}", headers=agent)
    assert opened.status_code == 200 and opened.json()["full_name"] == "Dewi Lestari"
