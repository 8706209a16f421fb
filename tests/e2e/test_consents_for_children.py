"""A child's consent over HTTP (UU PDP Pasal 25, issue 14): a contact aged 13 to 17 grants
nothing alone; a parent or guardian does, named in the decision and sealed under the child's
key. A contact without an age is taken as an adult and says so (``age_unknown``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, Tenant
from tests.harness import PostgresServer

PROBLEM = "application/problem+json"
# Distinctive, so any hit in a dump is a leak, never a coincidence.
GUARDIAN = {"full_name": "Ratna Kusumawardani Sastroamidjojo", "relationship": "parent"}


def decide(api: Api, tenant: Tenant, contact_id: str, **body: Any) -> httpx.Response:
    return api.client.post(
        f"/v1/contacts/{contact_id}/consents",
        json={"purpose": "marketing", "granted": True, **body},
        headers=tenant.auth("agent"),
    )


def consents(api: Api, tenant: Tenant, contact_id: str, role: str = "agent") -> Any:
    response = api.client.get(f"/v1/contacts/{contact_id}/consents", headers=tenant.auth(role))
    assert response.status_code == 200, response.text
    return response.json()


def trail_of(api: Api, response: httpx.Response) -> list[dict[str, Any]]:
    """The access records the request that got ``response`` left."""
    request_id = response.headers["x-request-id"]
    return [r for r in api.access_records() if r["request_id"] == request_id]


def test_a_15_year_olds_own_grant_is_refused_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    child = api.new_contact(tenant, full_name="Dimas Pratama", age=15)
    before = api.command_events()
    refused = decide(api, tenant, child["id"], source="formulir sekolah")
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == "urn:crm:problem:guardian-consent-required"
    assert problem["errors"][0]["reason"] == "guardian-consent-required"
    assert problem["errors"][0]["purpose"] == "marketing"
    assert api.command_events() == before
    view = consents(api, tenant, child["id"])
    assert view["history"] == []
    assert {c["purpose"]: c["granted"] for c in view["current"]}["marketing"] is False


def test_a_parents_grant_for_a_child_is_sealed_and_shown(
    api: Api, postgres_server: PostgresServer
) -> None:
    tenant = api.new_tenant()
    child = api.new_contact(tenant, full_name="Dimas Pratama", age=15)
    granted = decide(api, tenant, child["id"], given_by="guardian", guardian=GUARDIAN)
    assert granted.status_code == 201, granted.text
    assert granted.json()["given_by"] == "guardian"
    assert granted.json()["guardian"] == GUARDIAN
    [record] = trail_of(api, granted)  # the echoed guardian, and no age: it did not decide
    assert record["fields"] == ["guardian_name", "guardian_relationship"]

    events_db = api.service.settings.database_url.rsplit("/", 1)[1]
    dump = postgres_server.pg_dump(events_db)
    assert b"consent_events_view" in dump
    assert GUARDIAN["full_name"].encode() not in dump

    view = consents(api, tenant, child["id"])
    [decision] = view["history"]
    assert (decision["given_by"], decision["guardian"]) == ("guardian", GUARDIAN)
    current = {c["purpose"]: c for c in view["current"]}
    assert current["marketing"]["granted"] is True
    assert current["marketing"]["given_by"] == "guardian"
    audited = consents(api, tenant, child["id"], "auditor")  # who decided, never their name
    assert audited["history"][0]["given_by"] == "guardian"
    assert audited["history"][0]["guardian"] is None


@pytest.mark.parametrize(("age", "status"), [(17, 409), (18, 201)])
def test_seventeen_is_a_child_and_eighteen_an_adult(api: Api, age: int, status: int) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, age=age)
    response = decide(api, tenant, contact["id"])
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["given_by"] == "subject"
        assert response.json()["guardian"] is None
        [record] = trail_of(api, response)  # the age decided the grant: recorded
        assert record["fields"] == ["age"]
        assert record["purpose"] == "account_management"


def test_a_contact_without_an_age_is_taken_as_an_adult_and_says_so(api: Api) -> None:
    tenant = api.new_tenant()
    ageless = api.new_contact(tenant, full_name="Tanpa Umur")
    aged = api.new_contact(tenant, full_name="Cukup Umur", age=30)
    assert ageless["age_unknown"] is True and aged["age_unknown"] is False
    granted = decide(api, tenant, ageless["id"])
    assert granted.status_code == 201, granted.text
    assert trail_of(api, granted) == []  # nothing was opened
    view = api.client.get(f"/v1/contacts/{ageless['id']}", headers=tenant.auth("agent"))
    assert view.json()["age_unknown"] is True and view.json()["age"] is None
    exported = api.client.get(
        f"/v1/contacts/{ageless['id']}/export", headers=tenant.auth("privacy_officer")
    ).json()
    assert exported["contact"]["age_unknown"] is True
    assert exported["consents"]["history"][0]["given_by"] == "subject"
    cleared = api.client.patch(
        f"/v1/contacts/{aged['id']}", json={"age": None}, headers=tenant.auth("agent")
    )
    assert cleared.json()["age_unknown"] is True


def test_a_childs_withdrawal_needs_no_guardian_and_opens_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    child = api.new_contact(tenant, age=14)
    granted = decide(api, tenant, child["id"], given_by="guardian", guardian=GUARDIAN)
    assert granted.status_code == 201, granted.text
    withdrawn = decide(api, tenant, child["id"], granted=False)
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.json()["given_by"] == "subject"
    assert trail_of(api, withdrawn) == []
    current = {c["purpose"]: c for c in consents(api, tenant, child["id"])["current"]}
    assert current["marketing"]["granted"] is False
    assert current["marketing"]["given_by"] == "subject"


@pytest.mark.parametrize(
    "body",
    [
        {"given_by": "guardian"},
        {"given_by": "guardian", "guardian": None},
        {"given_by": "subject", "guardian": GUARDIAN},
        {"guardian": GUARDIAN},
        {"given_by": "uncle", "guardian": GUARDIAN},
        {"given_by": "guardian", "guardian": {**GUARDIAN, "relationship": "aunt"}},
        {"given_by": "guardian", "guardian": {**GUARDIAN, "full_name": "   "}},
        {"given_by": "guardian", "guardian": {"full_name": "Ratna"}},
        {"given_by": "guardian", "guardian": {**GUARDIAN, "nik": "3174"}},
    ],
)
def test_who_decided_and_the_guardian_must_agree_or_it_is_422(
    api: Api, body: dict[str, Any]
) -> None:
    tenant = api.new_tenant()
    child = api.new_contact(tenant, age=15)
    before = api.command_events()
    response = decide(api, tenant, child["id"], **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert GUARDIAN["full_name"] not in response.text
    assert api.command_events() == before


def test_the_openapi_document_states_who_may_decide(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    consent_in = schemas["ConsentIn"]
    assert consent_in["properties"]["given_by"]["enum"] == ["subject", "guardian"]
    assert consent_in["properties"]["given_by"]["default"] == "subject"
    assert consent_in["then"]["required"] == ["guardian"]
    assert schemas["GuardianIn"]["properties"]["relationship"]["enum"] == ["parent", "guardian"]
    assert "age_unknown" in schemas["ContactOut"]["required"]
