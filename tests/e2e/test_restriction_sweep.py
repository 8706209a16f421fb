"""The restriction sweep, driven by ``/openapi.json``: with the subject restricted (UU PDP
Pasal 41) for every purpose, every operation that processes its data is refused with a 409
naming the restriction and stores nothing; what stays allowed (the subject's own requests,
their access export, erasure, the audit trail) still works. Every operation is in
:data:`RESTRICTION`; one missing fails the sweep."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api
from tests.e2e.test_processing_trail import TRAIL, Personal, build_world, operations
from tests.e2e.test_request_kinds import work

REFUSED = "refused"  # 409 restricted, nothing stored
LISTED = "listed"  # a list: the subject is refused in it, or left out, with no values
ALLOWED = "allowed"  # still works for a restricted subject
UNRELATED = "unrelated"  # not about the subject
ERASE = "erase"  # allowed, and called last

RESTRICTION: dict[tuple[str, str], str] = {
    ("POST", "/v1/contacts"): UNRELATED,  # a new subject
    ("GET", "/v1/contacts"): LISTED,
    ("GET", "/v1/contacts/{contact_id}"): REFUSED,
    ("PATCH", "/v1/contacts/{contact_id}"): REFUSED,
    ("POST", "/v1/contacts/{contact_id}/consents"): REFUSED,
    ("GET", "/v1/contacts/{contact_id}/consents"): REFUSED,
    ("POST", "/v1/contacts/{contact_id}/policy-acceptances"): REFUSED,
    ("POST", "/v1/contacts/{contact_id}/activities"): REFUSED,
    ("GET", "/v1/contacts/{contact_id}/activities"): REFUSED,
    ("POST", "/v1/contacts/{contact_id}/linked-accounts"): REFUSED,
    ("GET", "/v1/contacts/{contact_id}/linked-accounts"): REFUSED,
    ("DELETE", "/v1/contacts/{contact_id}/linked-accounts/{link_id}"): REFUSED,
    ("POST", "/v1/shares"): REFUSED,
    ("POST", "/v1/shares/{share_id}/execute"): REFUSED,
    ("GET", "/v1/exports/marketing"): LISTED,
    ("GET", "/v1/exports/training"): LISTED,
    ("GET", "/v1/exports/promotion"): LISTED,
    ("GET", "/v1/contacts/{contact_id}/export"): ALLOWED,  # the subject's own access
    ("POST", "/v1/requests"): ALLOWED,
    ("GET", "/v1/requests"): ALLOWED,
    ("GET", "/v1/requests/{request_id}"): ALLOWED,
    ("GET", "/v1/audit/access"): ALLOWED,
    ("GET", "/v1/audit/events"): ALLOWED,
    ("GET", "/v1/audit/contacts/{contact_id}/state"): ALLOWED,
    ("GET", "/v1/shares"): ALLOWED,  # ids, codes and statuses: no processing of values
    ("GET", "/v1/shares/{share_id}"): ALLOWED,
    ("POST", "/v1/contacts/{contact_id}/erasure"): ERASE,
    # Steps of procedures already under way, and everything not about a subject:
    **{
        op: UNRELATED
        for op in [
            ("POST", "/v1/tenants"),
            ("POST", "/v1/users"),
            ("POST", "/v1/sessions"),
            ("DELETE", "/v1/sessions/current"),
            ("DELETE", "/v1/users/{user_id}/tokens"),
            ("GET", "/v1/erasures/{erasure_id}"),
            ("POST", "/v1/erasures/{erasure_id}/cancel"),
            ("GET", "/v1/purposes"),
            ("POST", "/v1/policies"),
            ("GET", "/v1/policies"),
            ("POST", "/v1/shares/{share_id}/approve"),
            ("POST", "/v1/shares/{share_id}/authorize"),
            ("POST", "/v1/shares/{share_id}/revoke"),  # stopping a share is always allowed
            ("POST", "/v1/requests/{request_id}/start"),
            ("POST", "/v1/requests/{request_id}/verify"),
            ("POST", "/v1/requests/{request_id}/complete"),
            ("POST", "/v1/requests/{request_id}/reject"),
            ("GET", "/v1/audit/verify"),
            ("GET", "/v1/audit/checkpoints/latest"),
            ("GET", "/v1/audit/proofs/inclusion"),
            ("GET", "/v1/audit/proofs/consistency"),
            ("GET", "/v1/keys"),
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
        ]
    },
}
ROLES = {
    "/v1/audit": "auditor",
    "/v1/requests": "privacy_officer",
    "/v1/contacts/{contact_id}/export": "privacy_officer",
    "/v1/contacts/{contact_id}/erasure": "privacy_officer",
}
SHARE_BODY = {"recipient": "Mitra Baru", "purpose": "support", "fields": ["email"]}


def test_every_operation_is_in_the_restriction_table(api: Api) -> None:
    missing = [f"{m} {p}" for m, p in operations(api) if (m, p) not in RESTRICTION]
    assert not missing, f"add these operations to RESTRICTION in {__file__}: {missing}"


def test_a_restricted_subject_is_refused_everywhere_but_where_the_law_allows(api: Api) -> None:
    world = build_world(api)
    cid = world.ids["contact_id"]
    work(api, world.tenant, cid, "restriction")
    problems: list[str] = []
    ops = operations(api)
    for method, path in [op for op in ops if RESTRICTION.get(op) != ERASE] + [
        op for op in ops if RESTRICTION.get(op) == ERASE
    ]:
        outcome = RESTRICTION.get((method, path))
        if outcome in (None, UNRELATED):
            continue
        before = api.command_events()
        answer = call(api, world, method, path)
        name = f"{method} {path}"
        if outcome == REFUSED:
            errors = answer.json().get("errors") or [{}]
            if answer.status_code != 409 or errors[0].get("reason") != "restricted":
                problems.append(f"{name}: {answer.status_code} {answer.text[:160]}")
            if api.command_events() != before:
                problems.append(f"{name}: stored something for a restricted subject")
        elif outcome == LISTED:
            items = answer.json().get("items", [])
            shown = [i for i in items if cid in (i.get("id"), i.get("contact_id"))]
            if answer.status_code != 200 or any("refused" not in i for i in shown):
                problems.append(f"{name}: the restricted subject's values were listed")
        elif not 200 <= answer.status_code < 300:
            problems.append(f"{name}: allowed, but answered {answer.status_code}")
    assert not problems, "\n".join(problems)


def call(api: Api, world: Any, method: str, path: str) -> Any:
    personal = TRAIL.get((method, path))
    role = next((r for p, r in ROLES.items() if path.startswith(p)), "agent")
    body: dict[str, Any] | None = None
    query = None
    if isinstance(personal, Personal):
        role, body, query = personal.role, personal.body, personal.query
    if (method, path) == ("POST", "/v1/shares"):
        body = {**SHARE_BODY, "contact_id": world.ids["contact_id"]}
    if (method, path) == ("POST", "/v1/requests"):
        body = {"contact_id": world.ids["contact_id"], "kind": "access", "requested_by": "subject"}
    if (method, path) == ("POST", "/v1/contacts/{contact_id}/erasure"):
        body = {"reason": "permintaan subjek"}
    if path == "/v1/audit/events" or path == "/v1/audit/access":
        query = {"contact_id": world.ids["contact_id"]}
    return api.client.request(
        method,
        path.format(**world.ids),
        json=body,
        params=query,
        headers=world.tenant.auth(role),
    )
