"""The contacts slice over HTTP, per API.md."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.e2e.conftest import Api, Tenant

BUDI = {
    "full_name": "Budi Santoso",
    "email": "Budi.Santoso@Example.co.id",
    "phone": "0812-7777-1234",
    "company": "PT Kopi Nusantara",
    "job_title": "Manajer Pembelian",
    "age": 38,
}


def test_contact_lifecycle_create_read_patch_find(api: Api) -> None:
    tenant = api.new_tenant()
    created = api.client.post("/v1/contacts", json=BUDI, headers=tenant.auth("agent"))
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    contact = created.json()
    assert contact["email"] == "budi.santoso@example.co.id"
    assert contact["phone"] == "+6281277771234"
    assert contact["version"] == 1

    read = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("privacy_officer"))
    assert read.status_code == 200 and read.json() == contact

    patched = api.client.patch(
        f"/v1/contacts/{contact['id']}",
        json={"job_title": "Direktur", "company": None},
        headers={**tenant.auth("agent"), "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert patched.json()["job_title"] == "Direktur" and patched.json()["company"] is None

    found = api.client.get(
        "/v1/contacts",
        params={"email": " BUDI.santoso@example.co.id "},
        headers=tenant.auth("agent"),
    )
    assert found.status_code == 200
    assert [c["id"] for c in found.json()["items"]] == [contact["id"]]
    by_phone = api.client.get(
        "/v1/contacts", params={"phone": "+62 812 7777 1234"}, headers=tenant.auth("agent")
    )
    assert [c["id"] for c in by_phone.json()["items"]] == [contact["id"]]
    nobody = api.client.get(
        "/v1/contacts", params={"email": "other@example.co.id"}, headers=tenant.auth("agent")
    )
    assert nobody.json()["items"] == []


def test_stale_if_match_is_412_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    api.client.patch(
        f"/v1/contacts/{contact['id']}", json={"age": 40}, headers=tenant.auth("agent")
    )
    before = api.event_count()
    stale = api.client.patch(
        f"/v1/contacts/{contact['id']}",
        json={"age": 41},
        headers={**tenant.auth("agent"), "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert api.event_count() == before


def parallel_patches(
    api: Api, tenant: Tenant, contact_id: str, headers: dict[str, str], count: int = 20
) -> list[tuple[int, int, int | None]]:
    """``count`` PATCHes of one contact released at once: (n, status, version served)."""
    results: list[tuple[int, int, int | None]] = []
    barrier = threading.Barrier(count)

    def patch(n: int) -> None:
        barrier.wait()
        response = api.client.patch(
            f"/v1/contacts/{contact_id}",
            json={"job_title": f"Title {n}"},
            headers={**tenant.auth("agent"), **headers},
        )
        version = response.json()["version"] if response.status_code == 200 else None
        results.append((n, response.status_code, version))

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_parallel_patches_with_if_match_let_exactly_one_win(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    results = parallel_patches(api, tenant, contact["id"], {"If-Match": '"1"'})
    statuses = [status for _, status, _ in results]
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409, 412}
    (winner,) = [n for n, status, _ in results if status == 200]
    final = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent")).json()
    assert final["version"] == 2 and final["job_title"] == f"Title {winner}"


def test_parallel_patches_never_lose_an_update(api: Api) -> None:
    """20 unconditional PATCHes at once: each success owns exactly one new version, holding
    exactly its own change; every loser is told so with a 409; nothing is lost silently."""
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    results = parallel_patches(api, tenant, contact["id"], {})
    statuses = [status for _, status, _ in results]
    assert set(statuses) <= {200, 409}
    winners = {version: n for n, status, version in results if status == 200}
    assert len(winners) == statuses.count(200) >= 1  # one version per success
    assert sorted(winners) == list(range(2, 2 + len(winners)))

    history = api.client.get(
        "/v1/audit/events", params={"contact_id": contact["id"]}, headers=tenant.auth("auditor")
    ).json()["items"]
    updates = [e for e in history if e["type"] == "Contact.Updated"]
    assert sorted(e["version"] for e in updates) == sorted(winners)
    final = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent")).json()
    assert final["version"] == 1 + len(winners)
    assert final["job_title"] == f"Title {winners[final['version']]}"


def test_list_pages_with_a_cursor(api: Api) -> None:
    tenant = api.new_tenant()
    ids = {api.new_contact(tenant, full_name=f"Orang {i}")["id"] for i in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/contacts", params=params, headers=tenant.auth("agent")).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_erasure_over_http(api_on: object, backend: str) -> None:
    from crypto.certificates import verify_certificate

    api = api_on(backend)  # type: ignore[operator]
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **BUDI)
    erased = api.client.post(
        f"/v1/contacts/{contact['id']}/erasure",
        json={"reason": "data-subject request"},
        headers=tenant.auth("privacy_officer"),
    )
    assert erased.status_code == 200, erased.text
    certificate = erased.json()
    assert certificate["subject_id"] == contact["id"]
    key = api.service.signer.public_key  # pinned, not the one the certificate carries
    assert verify_certificate(certificate, key)
    assert not verify_certificate({**certificate, "subject_id": str(uuid.uuid4())}, key)

    assert (
        api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent")).status_code
        == 410
    )
    patch = api.client.patch(
        f"/v1/contacts/{contact['id']}", json={"age": 50}, headers=tenant.auth("agent")
    )
    assert patch.status_code == 410
    again = api.client.post(
        f"/v1/contacts/{contact['id']}/erasure",
        json={"reason": "again"},
        headers=tenant.auth("privacy_officer"),
    )
    assert again.status_code == 410
    found = api.client.get(
        "/v1/contacts", params={"email": BUDI["email"]}, headers=tenant.auth("agent")
    )
    assert found.json()["items"] == []

    served = api.client.get(f"/v1/erasures/{certificate['id']}", headers=tenant.auth("auditor"))
    assert served.status_code == 200 and served.json() == certificate

    audit = api.client.get(
        "/v1/audit/events", params={"contact_id": contact["id"]}, headers=tenant.auth("auditor")
    )
    assert audit.status_code == 200
    items = audit.json()["items"]
    assert [i["type"] for i in items] == [
        "Contact.Registered",
        "SubjectKey.Created",
        "Contact.Erased",
        "SubjectKey.Destroyed",
    ]
    assert "key" not in str(items[1]["data"]).replace("key_id", "")
    assert set(items[0]["personal"].values()) == {"erased"}
    assert set(items[0]["personal"]) == set(BUDI)


def test_audit_events_show_sealed_markers_and_page(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **BUDI)
    api.client.patch(
        f"/v1/contacts/{contact['id']}", json={"age": 39}, headers=tenant.auth("agent")
    )
    first = api.client.get(
        "/v1/audit/events", params={"limit": 3}, headers=tenant.auth("auditor")
    ).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = api.client.get(
        "/v1/audit/events",
        params={"cursor": first["next_cursor"], "limit": 500},
        headers=tenant.auth("auditor"),
    ).json()
    # The answers' access records are events of the tenant's too (the trail is history).
    items = [i for i in first["items"] + rest["items"] if i["type"] != "AccessRecord.Recorded"]
    types = [i["type"] for i in items]
    assert types[0] == "Tenant.Created"
    assert types[-3:] == ["Contact.Registered", "SubjectKey.Created", "Contact.Updated"]
    text = str(first) + str(rest)
    assert "Budi" not in text and "budi" not in text
    registered = items[-3]
    assert set(registered["personal"].values()) == {"sealed"}
