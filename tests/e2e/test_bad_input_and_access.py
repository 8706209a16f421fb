"""Bad input, wrong roles, bad tokens and other tenants: a clear 4xx problem, nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.fields import CANONICAL_UUID
from tests.conftest import ADMIN_TOKEN
from tests.e2e.conftest import Api

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"full_name": "Ana", "email": "not-an-email"}, 422),
        ({"email": "ana@example.id"}, 422),
        ({"full_name": ""}, 422),
        ({"full_name": 42}, 422),
        ({"full_name": "Ana", "age": "thirty"}, 422),
        ({"full_name": "Ana", "age": 12}, 422),
        ({"full_name": "Ana", "age": 151}, 422),
        ({"full_name": "Ana", "phone": "call me"}, 422),
        ({"full_name": "Ana", "favourite_colour": "blue"}, 422),
        ([1, 2, 3], 422),
    ],
)
def test_bad_contact_bodies_are_problems_and_store_nothing(
    api: Api, body: object, status: int
) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    response = api.client.post("/v1/contacts", json=body, headers=tenant.auth("agent"))
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert api.event_count() == before


def test_validation_problems_do_not_echo_input(api: Api) -> None:
    tenant = api.new_tenant()
    response = api.client.post(
        "/v1/contacts",
        json={"full_name": "Ana Rahasia", "age": "rahasia-umur"},
        headers=tenant.auth("agent"),
    )
    assert response.status_code == 422
    assert "rahasia" not in response.text.lower()


def test_malformed_json_is_422(api: Api) -> None:
    tenant = api.new_tenant()
    response = api.client.post(
        "/v1/contacts",
        content=b'{"full_name": ',
        headers={**tenant.auth("agent"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_oversized_body_is_413_and_stores_nothing(api: Api) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    response = api.client.post(
        "/v1/contacts", json={"full_name": "x" * 200_000}, headers=tenant.auth("agent")
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert api.event_count() == before


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "crm_x"])
def test_missing_or_bad_token_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.client.get(f"/v1/contacts/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("post", "/v1/contacts", "auditor"),
        ("post", "/v1/contacts", "pic"),
        ("post", "/v1/contacts", "privacy_officer"),
        ("get", "/v1/contacts/{id}", "auditor"),
        ("get", "/v1/contacts/{id}", "pic"),
        ("patch", "/v1/contacts/{id}", "privacy_officer"),
        ("post", "/v1/contacts/{id}/erasure", "agent"),
        ("post", "/v1/contacts/{id}/erasure", "admin"),
        ("get", "/v1/audit/events", "agent"),
        ("post", "/v1/users", "agent"),
        ("post", "/v1/tenants", "admin"),
    ],
)
def test_wrong_role_is_403_and_stores_nothing(api: Api, method: str, path: str, role: str) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    before = api.event_count()
    body = {"full_name": "Someone", "reason": "x", "role": "agent", "name": "T"}
    response = api.client.request(
        method, path.format(id=contact["id"]), json=body, headers=tenant.auth(role)
    )
    assert response.status_code == 403, response.text
    assert api.event_count() == before


def test_platform_token_cannot_act_inside_a_tenant(api: Api) -> None:
    response = api.client.post(
        "/v1/contacts",
        json={"full_name": "X"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 403


def test_another_tenants_contact_is_404_everywhere(api: Api) -> None:
    mine, theirs = api.new_tenant("Mine"), api.new_tenant("Theirs")
    contact = api.new_contact(theirs, email="rahasia@theirs.id")
    cid = contact["id"]
    before = api.event_count()
    assert api.client.get(f"/v1/contacts/{cid}", headers=mine.auth("agent")).status_code == 404
    patch = api.client.patch(f"/v1/contacts/{cid}", json={"age": 30}, headers=mine.auth("agent"))
    assert patch.status_code == 404
    erase = api.client.post(
        f"/v1/contacts/{cid}/erasure", json={"reason": "x"}, headers=mine.auth("privacy_officer")
    )
    assert erase.status_code == 404
    found = api.client.get(
        "/v1/contacts", params={"email": "rahasia@theirs.id"}, headers=mine.auth("agent")
    )
    assert found.json()["items"] == []
    audit = api.client.get(
        "/v1/audit/events", params={"contact_id": cid}, headers=mine.auth("auditor")
    )
    assert audit.json()["items"] == []
    assert api.event_count() == before
    still = api.client.get(f"/v1/contacts/{cid}", headers=theirs.auth("agent"))
    assert still.status_code == 200


@pytest.mark.parametrize("contact_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_contact_is_404(api: Api, contact_id: str) -> None:
    tenant = api.new_tenant()
    response = api.client.get(f"/v1/contacts/{contact_id}", headers=tenant.auth("agent"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_users_with_bad_role_or_email_are_refused(api: Api) -> None:
    tenant = api.new_tenant()
    before = api.event_count()
    for body in (
        {"full_name": "X", "role": "superuser"},
        {"full_name": "X", "role": "agent", "email": "nope"},
        {"full_name": "X", "role": "agent", "password": "short"},
    ):
        response = api.client.post("/v1/users", json=body, headers=tenant.auth("admin"))
        assert response.status_code == 422, body
    assert api.event_count() == before


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "crm_event_store_head" in api.client.get("/metrics").text


def test_openapi_describes_the_slice(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/tenants", "post"),
        ("/v1/users", "post"),
        ("/v1/contacts", "post"),
        ("/v1/contacts", "get"),
        ("/v1/contacts/{contact_id}", "get"),
        ("/v1/contacts/{contact_id}", "patch"),
        ("/v1/contacts/{contact_id}/erasure", "post"),
        ("/v1/erasures/{erasure_id}", "get"),
        ("/v1/audit/events", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert "422" in paths["/v1/contacts"]["post"]["responses"]


# Other spellings of one UUID: uuid.UUID() reads them all, but one resource has one URL.
SPELLINGS = {
    "braces": lambda canonical: "{" + canonical + "}",
    "urn": lambda canonical: f"urn:uuid:{canonical}",
    "no hyphens": lambda canonical: canonical.replace("-", ""),
    "upper case": lambda canonical: canonical.upper(),
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_a_contact_id_spelt_another_way_names_nothing(
    api: Api, spelling: Callable[[str], str]
) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    response = api.client.get(
        f"/v1/contacts/{spelling(contact['id'])}", headers=tenant.auth("agent")
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_ids_spelt_another_way_in_bodies_and_queries_are_422(
    api: Api, spelling: Callable[[str], str]
) -> None:
    tenant = api.new_tenant()
    other = spelling(api.new_contact(tenant)["id"])
    before = api.event_count()
    share = {"contact_id": other, "recipient": "PT X", "purpose": "support", "fields": ["email"]}
    shared = api.client.post("/v1/shares", json=share, headers=tenant.auth("agent"))
    listed = api.client.get(
        "/v1/shares", params={"contact_id": other}, headers=tenant.auth("agent")
    )
    assert (shared.status_code, listed.status_code) == (422, 422)
    assert api.event_count() == before


def test_method_not_allowed_lists_the_methods_the_path_supports(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    response = api.client.delete(f"/v1/contacts/{contact['id']}", headers=tenant.auth("admin"))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET, PATCH"


@pytest.mark.parametrize("header", [None, "Bearer nope"])
def test_an_unknown_query_parameter_without_a_valid_token_is_401(
    api: Api, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.client.get("/v1/contacts", params={"emial": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_document_declares_a_token_exactly_where_a_request_without_one_is_401(
    api: Api,
) -> None:
    """Every operation of ``/openapi.json``, called without a token: those whose document
    declares the bearer scheme answer 401, the others do not (the sweeps driven by the
    document test the roles of exactly the operations it declares protected)."""
    document = api.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    protected = unprotected = 0
    for template, item in document["paths"].items():
        path = template.format_map(_AnyId())
        for method, operation in item.items():
            response = api.client.request(method, path, json={})
            needs_token = operation.get("security") == [{"bearer": []}]
            assert (response.status_code == 401) == needs_token, (method, template)
            protected += needs_token
            unprotected += not needs_token
    assert protected > 40 and unprotected > 3


class _AnyId(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())


def test_an_empty_patch_is_422_as_the_document_declares(api: Api) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    before = api.event_count()
    response = api.client.patch(
        f"/v1/contacts/{contact['id']}", json={}, headers=tenant.auth("agent")
    )
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["ContactPatch"]
    assert response.status_code == 422
    assert schema["minProperties"] == 1
    assert api.event_count() == before


def _id_schemas(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every parameter, and every request-body property, that names one of our ids."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"].endswith("_id"):
                    yield f"{method} {path} {parameter['name']}", parameter["schema"]
    for name, component in spec["components"]["schemas"].items():
        for field, schema in component.get("properties", {}).items():
            # ErasureIn.request_id is the caller's own reference (a ticket number, say).
            if field.endswith("_id") and name.endswith("In") and name != "ErasureIn":
                yield f"{name}.{field}", schema


def test_the_document_declares_every_id_as_a_canonical_uuid(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    undeclared = [
        where
        for where, schema in _id_schemas(spec)
        for variant in schema.get("anyOf", [schema])
        if variant.get("type") == "string"
        if variant.get("format") != "uuid" or variant.get("pattern") != CANONICAL_UUID
    ]
    assert undeclared == []
