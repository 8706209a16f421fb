"""No purpose, no plaintext (DESIGN invariant 12), checked from outside.

The sweep is driven by ``/openapi.json``: every operation is in :data:`TRAIL`, either with
how to call it so that it returns (or hands over) a subject's personal values, or as an
operation that returns none. An operation missing from the table fails the sweep. Called
with a subject that exists, a personal operation must answer 2xx with the subject's values
and leave exactly one new access record naming that subject and exactly the fields whose
values the answer carried; a GET listed as returning none must carry no personal value and
leave no record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Api, Tenant

CONSENT_PURPOSES = (
    "marketing",
    "third_party_linking",
    "training_data",
    "promotional_logo_use",
    "third_party_sharing",
)
# One value per field, each unlike any other, so an answer shows which fields it carries.
SUBJECT = {
    "full_name": "Wulan Trail Saksama",
    "email": "wulan.trail@saksama.id",
    "phone": "+6281377788899",
    "company": "PT Jejak Saksama",
    "job_title": "Kepala Jejak",
}
SERVICE_DATA = {
    "ip": "198.51.100.77",
    "handle": "@wulan_trail",
    "source": "formulir-jejak-77",
}
NEWCOMER = {"full_name": "Baru Trail Dicatat", "email": "baru.trail@saksama.id"}
VALUES = [*SUBJECT.items(), *SERVICE_DATA.items(), *NEWCOMER.items()]


@dataclass
class World:
    tenant: Tenant
    ids: dict[str, str]  # contact_id, link_id, share_id, request_id


@dataclass(frozen=True)
class Personal:
    """How to call an operation so that it returns the subject's values."""

    role: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    # Fields handed over rather than returned (a share's execution): named, not searched for.
    handed_over: frozenset[str] = frozenset()
    subject: Callable[[World, dict[str, Any]], str] = lambda world, _: world.ids["contact_id"]


NONE = None  # an operation that returns no personal value
TRAIL: dict[tuple[str, str], Personal | None] = {
    ("POST", "/v1/contacts"): Personal(
        "agent",
        body=NEWCOMER,
        subject=lambda _, answer: str(answer["id"]),
    ),
    ("GET", "/v1/contacts"): Personal("agent", query={"email": SUBJECT["email"]}),
    ("GET", "/v1/contacts/{contact_id}"): Personal("agent"),
    ("PATCH", "/v1/contacts/{contact_id}"): Personal("agent", body={"job_title": "Kepala Jejak"}),
    ("POST", "/v1/contacts/{contact_id}/consents"): Personal(
        "agent", body={"purpose": "marketing", "granted": True, "source": SERVICE_DATA["source"]}
    ),
    ("GET", "/v1/contacts/{contact_id}/consents"): Personal("agent"),
    ("POST", "/v1/contacts/{contact_id}/policy-acceptances"): Personal(
        "agent", body={"source": SERVICE_DATA["source"]}
    ),
    ("POST", "/v1/contacts/{contact_id}/activities"): Personal(
        "agent", body={"kind": "page_view", "ip": SERVICE_DATA["ip"]}
    ),
    ("GET", "/v1/contacts/{contact_id}/activities"): Personal("agent"),
    ("POST", "/v1/contacts/{contact_id}/linked-accounts"): Personal(
        "agent", body={"provider": "telegram", "handle": SERVICE_DATA["handle"]}
    ),
    ("GET", "/v1/contacts/{contact_id}/linked-accounts"): Personal("agent"),
    ("DELETE", "/v1/contacts/{contact_id}/linked-accounts/{link_id}"): Personal("agent"),
    ("POST", "/v1/shares/{share_id}/execute"): Personal(
        "agent", handed_over=frozenset({"email", "phone"})
    ),
    ("GET", "/v1/exports/marketing"): Personal("agent"),
    ("GET", "/v1/exports/training"): Personal("agent"),
    ("GET", "/v1/exports/promotion"): Personal("agent"),
    ("GET", "/v1/contacts/{contact_id}/export"): Personal("privacy_officer"),
    # Ids, codes, hashes and masked states only:
    ("POST", "/v1/tenants"): NONE,
    ("POST", "/v1/users"): NONE,  # the user's details are sealed; the answer is id and token
    ("POST", "/v1/sessions"): NONE,
    ("DELETE", "/v1/sessions/current"): NONE,
    ("DELETE", "/v1/users/{user_id}/tokens"): NONE,
    ("POST", "/v1/contacts/{contact_id}/erasure"): NONE,
    ("GET", "/v1/erasures/{erasure_id}"): NONE,
    ("POST", "/v1/erasures/{erasure_id}/cancel"): NONE,
    ("GET", "/v1/purposes"): NONE,
    ("POST", "/v1/policies"): NONE,
    ("GET", "/v1/policies"): NONE,
    ("POST", "/v1/shares"): NONE,
    ("GET", "/v1/shares"): NONE,
    ("GET", "/v1/shares/{share_id}"): NONE,
    ("POST", "/v1/shares/{share_id}/approve"): NONE,
    ("POST", "/v1/shares/{share_id}/authorize"): NONE,
    ("POST", "/v1/shares/{share_id}/revoke"): NONE,
    ("POST", "/v1/requests"): NONE,
    ("GET", "/v1/requests"): NONE,
    ("GET", "/v1/requests/{request_id}"): NONE,
    ("POST", "/v1/requests/{request_id}/start"): NONE,
    ("POST", "/v1/requests/{request_id}/verify"): NONE,
    ("POST", "/v1/requests/{request_id}/complete"): NONE,
    ("POST", "/v1/requests/{request_id}/reject"): NONE,
    ("GET", "/v1/audit/access"): NONE,
    ("GET", "/v1/audit/events"): NONE,
    ("GET", "/v1/audit/contacts/{contact_id}/state"): NONE,
    ("GET", "/v1/audit/verify"): NONE,
    ("GET", "/v1/audit/checkpoints/latest"): NONE,
    ("GET", "/v1/audit/proofs/inclusion"): NONE,
    ("GET", "/v1/audit/proofs/consistency"): NONE,
    ("GET", "/v1/keys"): NONE,
    ("GET", "/healthz"): NONE,
    ("GET", "/readyz"): NONE,
    ("GET", "/metrics"): NONE,
}
# GETs listed as returning nothing personal, called by a role that may: the answer is
# searched for the subject's values.
NON_PERSONAL_READERS = {"/v1/audit": "auditor", "/v1/requests": "privacy_officer"}


def build_world(api: Api) -> World:
    """A subject with every kind of personal value, consenting to every purpose, with a
    link, a share ready to execute and an open request."""
    tenant = api.new_tenant("Jejak Pemrosesan")
    agent = tenant.auth("agent")
    api.client.post("/v1/policies", json={"version": "2026-01"}, headers=tenant.auth("admin"))
    contact = api.new_contact(tenant, **SUBJECT)
    cid = contact["id"]
    for purpose in CONSENT_PURPOSES:
        granted = api.client.post(
            f"/v1/contacts/{cid}/consents",
            json={"purpose": purpose, "granted": True, "source": SERVICE_DATA["source"]},
            headers=agent,
        )
        assert granted.status_code == 201, granted.text
    api.client.post(
        f"/v1/contacts/{cid}/activities",
        json={"kind": "login", "ip": SERVICE_DATA["ip"]},
        headers=agent,
    )
    link = api.client.post(
        f"/v1/contacts/{cid}/linked-accounts",
        json={"provider": "telegram", "handle": SERVICE_DATA["handle"]},
        headers=agent,
    ).json()
    share = ready_share(api, tenant, cid, ["email", "phone"])
    request = api.client.post(
        "/v1/requests",
        json={"contact_id": cid, "kind": "access", "requested_by": "subject"},
        headers=tenant.auth("privacy_officer"),
    ).json()
    ids = {"contact_id": cid, "link_id": link["id"], "share_id": share, "request_id": request["id"]}
    return World(tenant, ids)


def ready_share(api: Api, tenant: Tenant, contact_id: str, fields: list[str]) -> str:
    """A share approved by the PIC and authorised by an admin: one step from execution."""
    share = api.client.post(
        "/v1/shares",
        json={
            "contact_id": contact_id,
            "recipient": "Mitra Jejak",
            "purpose": "third_party_sharing",
            "fields": fields,
        },
        headers=tenant.auth("agent"),
    )
    assert share.status_code == 201, share.text
    sid = str(share.json()["id"])
    api.client.post(f"/v1/shares/{sid}/approve", headers=tenant.auth("pic"))
    authorized = api.client.post(
        f"/v1/shares/{sid}/authorize",
        json={"agreement_ref": "PKS-JEJAK-1"},
        headers=tenant.auth("admin"),
    )
    assert authorized.status_code == 200, authorized.text
    return sid


def operations(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    ]


def carried(text: str) -> set[str]:
    """The subject's fields whose values an answer carries."""
    return {field for field, value in VALUES if value in text}


def test_every_operation_is_in_the_trail_table(api: Api) -> None:
    missing = [f"{m} {p}" for m, p in operations(api) if (m, p) not in TRAIL]
    assert not missing, f"add these operations to TRAIL in {__file__}: {missing}"


def test_every_operation_that_returns_personal_values_leaves_exactly_one_record(
    api: Api,
) -> None:
    world = build_world(api)
    problems: list[str] = []
    for method, path in operations(api):
        call = TRAIL.get((method, path))
        if call is None:
            continue
        before = len(api.access_records())
        answer = api.client.request(
            method,
            path.format(**world.ids),
            json=call.body,
            params=call.query,
            headers=world.tenant.auth(call.role),
        )
        name = f"{method} {path}"
        if not 200 <= answer.status_code < 300:
            problems.append(f"{name}: {answer.status_code} {answer.text[:200]}")
            continue
        records = api.access_records()[before:]
        returned = carried(answer.text) | call.handed_over
        if not returned:
            problems.append(f"{name}: the answer carried none of the subject's values")
        if len(records) != 1:
            problems.append(f"{name}: {len(records)} access records, not 1")
            continue
        [record] = records
        subject = call.subject(world, answer.json())
        if subject not in record["subject_ids"]:
            problems.append(f"{name}: the record does not name the subject")
        if set(record["fields"]) != returned:
            problems.append(f"{name}: record names {record['fields']}, answer {sorted(returned)}")
        if record["request_id"] != answer.headers["x-request-id"]:
            problems.append(f"{name}: the record names another request")
        if record["operation"] != name:
            problems.append(f"{name}: the record names operation {record['operation']!r}")
    assert not problems, "\n".join(problems)


def test_reads_listed_as_impersonal_carry_no_personal_value_and_leave_no_record(
    api: Api,
) -> None:
    world = build_world(api)
    problems: list[str] = []
    for method, path in operations(api):
        if method != "GET" or TRAIL.get((method, path)) is not None or "{" in path:
            continue
        role = next((r for p, r in NON_PERSONAL_READERS.items() if path.startswith(p)), "admin")
        before = len(api.access_records())
        answer = api.client.get(path, headers=world.tenant.auth(role))
        if carried(answer.text):
            problems.append(f"GET {path} carried {sorted(carried(answer.text))}")
        if len(api.access_records()) != before:
            problems.append(f"GET {path} left an access record")
    assert not problems, "\n".join(problems)


def unwraps_of(api: Api, monkeypatch: pytest.MonkeyPatch, subject: str) -> list[str]:
    """Every data-key lookup for opening the subject's values, from now on."""
    keystore = api.service.crm.sealer.keystore
    looked_up: list[str] = []
    key_for_opening = keystore.key_for_opening

    def counted(tenant_id: Any, subject_id: Any) -> Any:
        if str(subject_id) == subject:
            looked_up.append(str(subject_id))
        return key_for_opening(tenant_id, subject_id)

    monkeypatch.setattr(keystore, "key_for_opening", counted)
    return looked_up


@pytest.mark.parametrize("purpose", CONSENT_PURPOSES)
def test_without_consent_every_use_for_the_purpose_is_refused_and_opens_nothing(
    api: Api, purpose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = api.new_tenant()
    agent = tenant.auth("agent")
    cid = api.new_contact(tenant, **SUBJECT)["id"]
    share = None
    if purpose == "third_party_sharing":  # a share can be asked for, not carried out
        share = ready_share(api, tenant, cid, ["email"])
    unwrapped = unwraps_of(api, monkeypatch, cid)
    before = len(api.access_records())

    named = api.client.get(f"/v1/contacts/{cid}", params={"purpose": purpose}, headers=agent)
    assert named.status_code == 409, named.text
    assert named.json()["errors"][0] == {
        **named.json()["errors"][0],
        "purpose": purpose,
        "reason": "no-consent",
    }
    page = api.client.get("/v1/contacts", params={"purpose": purpose}, headers=agent)
    assert page.status_code == 200
    [refused] = page.json()["items"]
    assert refused == {"id": cid, "refused": {"purpose": purpose, "reason": "no-consent"}}
    uses = {
        "marketing": lambda: api.client.get("/v1/exports/marketing", headers=agent),
        "training_data": lambda: api.client.get("/v1/exports/training", headers=agent),
        "promotional_logo_use": lambda: api.client.get("/v1/exports/promotion", headers=agent),
        "third_party_linking": lambda: api.client.post(
            f"/v1/contacts/{cid}/linked-accounts",
            json={"provider": "telegram", "handle": SERVICE_DATA["handle"]},
            headers=agent,
        ),
        "third_party_sharing": lambda: api.client.post(
            f"/v1/shares/{share}/execute", headers=agent
        ),
    }
    used = uses[purpose]()
    if purpose in ("marketing", "training_data", "promotional_logo_use"):
        assert used.status_code == 200 and cid not in used.text  # consent-filtered exports
    else:
        assert used.status_code == 409, used.text
        assert used.json()["errors"][0]["reason"] == "no-consent"
    assert not carried(named.text + page.text + used.text)
    assert unwrapped == [], "the subject's key was read for a refused purpose"
    assert len(api.access_records()) == before


def test_the_trail_is_served_to_auditors_and_in_the_subjects_export_and_outlives_erasure(
    api: Api,
) -> None:
    tenant = api.new_tenant()
    agent, officer = tenant.auth("agent"), tenant.auth("privacy_officer")
    cid = api.new_contact(tenant, **SUBJECT)["id"]
    other = api.new_contact(tenant, full_name="Orang Lain Jejak")["id"]
    read = api.client.get(f"/v1/contacts/{cid}", headers=agent)
    api.client.get(f"/v1/contacts/{cid}", params={"purpose": "support"}, headers=agent)
    api.client.get(f"/v1/contacts/{other}", headers=agent)

    trail = api.client.get("/v1/audit/access", params={"contact_id": cid}, headers=officer)
    assert trail.status_code == 200
    items = trail.json()["items"]
    assert [i["purpose"] for i in items] == ["account_management"] * 2 + ["support"]
    assert all(i["subject_ids"] == [cid] and i["role"] == "agent" for i in items)
    assert items[1]["request_id"] == read.headers["x-request-id"]
    assert items[1]["operation"] == "GET /v1/contacts/{contact_id}"
    assert items[1]["fields"] == sorted(SUBJECT)
    assert not carried(trail.text)
    support = api.client.get("/v1/audit/access", params={"purpose": "support"}, headers=officer)
    assert [i["position"] for i in support.json()["items"]] == [items[2]["position"]]
    first = api.client.get("/v1/audit/access", params={"limit": 1}, headers=tenant.auth("auditor"))
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    rest = api.client.get("/v1/audit/access", params={"cursor": cursor}, headers=officer)
    assert rest.json()["items"][0]["position"] > first.json()["items"][0]["position"]

    export = api.client.get(f"/v1/contacts/{cid}/export", headers=officer)
    assert [i["position"] for i in export.json()["processing"]][:3] == [
        i["position"] for i in items
    ]
    erased = api.client.post(
        f"/v1/contacts/{cid}/erasure", json={"reason": "permintaan subjek"}, headers=officer
    )
    assert erased.status_code == 200, erased.text
    after = api.client.get("/v1/audit/access", params={"contact_id": cid}, headers=officer)
    assert after.json()["items"][:3] == items


def storage_records(api: Api) -> list[dict[str, Any]]:
    return [r for r in api.access_records() if r["purpose"] == "storage"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_storage_openings_are_one_record_per_run_and_a_rebuild_is_one_more(
    api_on: Callable[[str], Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    for n in range(5):
        api.new_contact(tenant, full_name=f"Indeks {n}", email=f"indeks{n}@saksama.id")
    [serving] = storage_records(api)
    assert serving["operation"] == "crm serve" and serving["role"] == "system"
    assert serving["subject_ids"] == [] and "email" in serving["fields"]

    api.service.rebuild(api.service.runner.projections)
    runs = storage_records(api)
    assert [r["operation"] for r in runs] == ["crm serve", "crm projections rebuild"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_page_of_many_subjects_is_one_record_found_by_each_subject_and_rebuilt_alike(
    api_on: Callable[[str], Api], backend: str
) -> None:
    """A page's record indexes every subject on it (stored in several inserts of many rows
    each), so each subject's trail shows it, before and after a rebuild of the trail."""
    api = api_on(backend)
    tenant = api.new_tenant()
    officer = tenant.auth("privacy_officer")
    ids = sorted(api.new_contact(tenant, full_name=f"Warga {n}")["id"] for n in range(110))
    page = api.client.get("/v1/contacts", params={"limit": 110}, headers=tenant.auth("agent"))
    assert page.status_code == 200 and len(page.json()["items"]) == 110

    def pages_of(cid: str) -> list[dict[str, Any]]:
        trail = api.client.get("/v1/audit/access", params={"contact_id": cid}, headers=officer)
        return [i for i in trail.json()["items"] if i["operation"] == "GET /v1/contacts"]

    (record,) = pages_of(ids[0])
    assert sorted(record["subject_ids"]) == ids
    assert all(pages_of(cid) == [record] for cid in ids)
    api.service.rebuild([p for p in api.service.runner.projections if p.name == "access_trail"])
    assert all(pages_of(cid) == [record] for cid in ids)
