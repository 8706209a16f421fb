"""Cursor pagination on every list (API.md): ``limit`` up to 500, ``cursor``, stable pages."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from tests.e2e.access import ACCESS, CATALOGUES, ROLES
from tests.e2e.conftest import Api, Tenant


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def list_operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GET operations whose success body is a list: a page, or a bare array."""
    found = {}
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {})
        schema = resolve(spec, content.get("application/json", {}).get("schema", {}))
        if schema.get("type") == "array" or "items" in schema.get("properties", {}):
            found[path] = operation
    return found


def test_every_list_endpoint_takes_a_bounded_limit_and_a_cursor(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    lists = list_operations(spec)
    assert "/v1/contacts" in lists and "/v1/audit/events" in lists
    for path, operation in lists.items():
        if ("GET", path) in CATALOGUES:
            continue
        query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
        assert "cursor" in query, path
        limit = query.get("limit", {})
        assert limit.get("maximum") == 500 and limit.get("default") == 50, path


def test_a_limit_above_500_is_refused_on_every_list(api: Api) -> None:
    tenant = api.new_tenant()
    spec = api.client.get("/openapi.json").json()
    for path in list_operations(spec):
        if ("GET", path) in CATALOGUES or "{" in path:
            continue
        role = next(r for r in ROLES if r in ACCESS[("GET", path)].roles)
        too_many = api.client.get(path, params={"limit": 501}, headers=tenant.auth(role))
        assert too_many.status_code == 422, path
        most = api.client.get(path, params={"limit": 500}, headers=tenant.auth(role))
        assert most.status_code == 200, path


def walk(api: Api, tenant: Tenant, path: str, role: str, between_pages: Any) -> list[str]:
    """Every item id of a paged list, calling ``between_pages`` after each page."""
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(path, params=params, headers=tenant.auth(role))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [str(item.get("id", item.get("position"))) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        between_pages()


def test_contact_pages_are_stable_under_concurrent_inserts(api: Api) -> None:
    """Items that existed before the walk are each served exactly once, whatever is inserted
    meanwhile (between pages, and by another client while pages are read)."""
    tenant = api.new_tenant()
    existing = {api.new_contact(tenant, full_name=f"Lama {i}")["id"] for i in range(25)}
    inserted: list[str] = []
    stop = threading.Event()

    def insert_in_background() -> None:
        while not stop.is_set() and len(inserted) < 200:
            inserted.append(api.new_contact(tenant, full_name="Baru")["id"])

    def insert_between_pages() -> None:
        inserted.extend(api.new_contact(tenant, full_name="Sela")["id"] for _ in range(2))

    writer = threading.Thread(target=insert_in_background)
    writer.start()
    try:
        seen = walk(api, tenant, "/v1/contacts", "agent", insert_between_pages)
    finally:
        stop.set()
        writer.join()

    counts = Counter(seen)
    assert max(counts.values()) == 1  # nothing served twice
    assert existing <= set(seen)  # nothing that was there is skipped
    assert set(seen) <= existing | set(inserted)
    assert inserted  # the inserts really happened during the walk


def test_audit_pages_are_stable_under_concurrent_inserts(api: Api) -> None:
    tenant = api.new_tenant()
    for i in range(10):
        api.new_contact(tenant, full_name=f"Lama {i}")
    before = api.client.get(
        "/v1/audit/events", params={"limit": 500}, headers=tenant.auth("auditor")
    ).json()["items"]
    existing = [str(e["position"]) for e in before]

    seen = walk(
        api,
        tenant,
        "/v1/audit/events",
        "auditor",
        lambda: api.new_contact(tenant, full_name="Sela"),
    )

    assert len(seen) == len(set(seen))
    assert seen[: len(existing)] == existing  # in order, none skipped
    assert [int(p) for p in seen] == sorted(int(p) for p in seen)
    assert len(seen) > len(existing)  # pages after the inserts carry the new events


def test_a_misspelt_filter_is_422_not_a_list_of_everyone(api: Api) -> None:
    tenant = api.new_tenant()
    api.new_contact(tenant, email="ani@example.id")
    typo = api.client.get(
        "/v1/contacts", params={"emial": "ani@example.id"}, headers=tenant.auth("agent")
    )
    assert typo.status_code == 422
    assert typo.json()["type"] == "urn:crm:problem:unknown-parameter"


def test_a_body_that_is_not_utf8_is_422(api: Api) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    response = api.client.post(
        "/v1/contacts",
        content=b'{"full_name": "\xff\xfe"}',
        headers={**tenant.auth("agent"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert api.event_count() == before
