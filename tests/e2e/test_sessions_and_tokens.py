"""Logins, token revocation and the rate limits on both (API.md and issue #8)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.e2e.conftest import Api, Tenant
from tests.e2e.servers import serve_process
from tests.harness import mid_window

PASSWORD = "kata-sandi-yang-cukup-panjang"


def user_with_password(api: Api, tenant: Tenant, email: str, role: str = "agent") -> str:
    response = api.client.post(
        "/v1/users",
        json={"full_name": "Sari", "email": email, "role": role, "password": PASSWORD},
        headers=tenant.auth("admin"),
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def log_in(api: Api, tenant_id: str, email: str, password: str = PASSWORD) -> Any:
    return api.client.post(
        "/v1/sessions", json={"tenant_id": tenant_id, "email": email, "password": password}
    )


def test_login_with_email_and_password_issues_a_working_token(api: Api) -> None:
    tenant = api.new_tenant()
    user_id = user_with_password(api, tenant, "sari@toko.id")
    session = log_in(api, tenant.id, " Sari@Toko.ID ")
    assert session.status_code == 201, session.text
    body = session.json()
    assert body["user_id"] == user_id and body["role"] == "agent"
    assert body["token"].startswith("crm_") and len(body["token"]) >= 4 + 43  # 256 bits
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert api.client.post("/v1/contacts", json={"full_name": "B"}, headers=bearer).is_success


def test_every_failed_login_gets_the_same_401(api: Api) -> None:
    tenant, other = api.new_tenant(), api.new_tenant("Other")
    user_with_password(api, tenant, "sari@toko.id")
    failures = [
        log_in(api, tenant.id, "sari@toko.id", "wrong-password-123"),
        log_in(api, tenant.id, "nobody@toko.id"),
        log_in(api, tenant.id, "not-an-email"),
        log_in(api, other.id, "sari@toko.id"),
        log_in(api, "not-a-tenant", "sari@toko.id"),
    ]
    assert {f.status_code for f in failures} == {401}
    assert len({f.text for f in failures}) == 1


def test_passwords_are_stored_as_argon2id_hashes_only(api: Api) -> None:
    tenant = api.new_tenant()
    user_with_password(api, tenant, "sari@toko.id")
    states = b"".join(
        bytes(n.state) for n in api.service.crm.recorder.select_notifications(start=1, limit=10_000)
    )
    assert PASSWORD.encode() not in states
    assert b"$argon2id$v=19$m=65536,t=3,p=4$" in states


def test_revocation_is_an_event_and_the_token_fails_at_once(api: Api) -> None:
    tenant = api.new_tenant()
    victim = api.client.post(
        "/v1/users", json={"full_name": "V", "role": "agent"}, headers=tenant.auth("admin")
    ).json()
    bearer = {"Authorization": f"Bearer {victim['token']}"}
    assert api.client.get("/v1/contacts", headers=bearer).status_code == 200

    revoked = api.client.delete(f"/v1/users/{victim['id']}/tokens", headers=tenant.auth("admin"))

    assert revoked.status_code == 204
    assert api.client.get("/v1/contacts", headers=bearer).status_code == 401
    history = api.client.get(
        "/v1/audit/events", params={"contact_id": victim["id"]}, headers=tenant.auth("auditor")
    ).json()["items"]
    assert [e["type"] for e in history] == [
        "User.Registered",
        "SubjectKey.Created",
        "User.TokensRevoked",
    ]
    assert history[-1]["actor"] != victim["id"]
    assert "token_hash" not in str(history)


def test_login_after_revocation_works_and_old_tokens_stay_dead(api: Api) -> None:
    tenant = api.new_tenant()
    user_id = user_with_password(api, tenant, "sari@toko.id")
    old = log_in(api, tenant.id, "sari@toko.id").json()["token"]
    api.client.delete(f"/v1/users/{user_id}/tokens", headers=tenant.auth("admin"))
    new = log_in(api, tenant.id, "sari@toko.id").json()["token"]
    assert api.client.get("/v1/contacts", headers={"Authorization": f"Bearer {new}"}).is_success
    gone = api.client.get("/v1/contacts", headers={"Authorization": f"Bearer {old}"})
    assert gone.status_code == 401


def test_only_an_admin_of_the_same_tenant_may_revoke(api: Api) -> None:
    tenant, other = api.new_tenant(), api.new_tenant("Other")
    victim = api.client.post(
        "/v1/users", json={"full_name": "V", "role": "agent"}, headers=tenant.auth("admin")
    ).json()
    path = f"/v1/users/{victim['id']}/tokens"
    before = api.event_count()
    for role in ("agent", "pic", "privacy_officer", "auditor"):
        assert api.client.delete(path, headers=tenant.auth(role)).status_code == 403
    assert api.client.delete(path, headers=other.auth("admin")).status_code == 404
    assert api.event_count() == before


def test_revocation_reaches_another_api_process_at_once(
    make_settings: Callable[[str], Settings], tmp_path: Path
) -> None:
    """Process one (a real ``crm serve``) serves a token; process two revokes it; the very
    next request to process one is a 401: nothing is cached per process."""
    settings = make_settings("postgres")
    local = bootstrap(settings)
    try:
        api = Api(TestClient(create_app(local)), local)
        tenant = api.new_tenant()
        victim = api.client.post(
            "/v1/users", json={"full_name": "V", "role": "agent"}, headers=tenant.auth("admin")
        ).json()
        bearer = {"Authorization": f"Bearer {victim['token']}"}
        with (
            serve_process(settings, tmp_path / "other.log") as other,
            httpx.Client(base_url=other.base_url, timeout=10) as remote,
        ):
            assert remote.get("/v1/contacts", headers=bearer).status_code == 200
            revoked = api.client.delete(
                f"/v1/users/{victim['id']}/tokens", headers=tenant.auth("admin")
            )
            assert revoked.status_code == 204
            assert remote.get("/v1/contacts", headers=bearer).status_code == 401
    finally:
        local.close()


def limited_api(make_settings: Callable[[str], Settings], **limits: int) -> Api:
    """The API with these limits, its limiter's clock held mid-window: the windows are
    fixed, so a test's hits straddling a minute's end would count in two of them."""
    service = bootstrap(dataclasses.replace(make_settings("sqlite"), **limits))
    service.rate_limiter.clock = mid_window(service.rate_limiter.window)
    return Api(TestClient(create_app(service), raise_server_exceptions=False), service)


def test_logins_are_limited_per_client_address(
    make_settings: Callable[[str], Settings],
) -> None:
    api = limited_api(make_settings, auth_rate_per_ip=3, auth_rate_per_tenant=100)
    try:
        tenant = api.new_tenant()
        user_with_password(api, tenant, "sari@toko.id")
        statuses = [log_in(api, tenant.id, "sari@toko.id", "wrong-guess-xyz").status_code]
        statuses += [log_in(api, tenant.id, "sari@toko.id", "wrong-guess-xyz").status_code]
        statuses += [log_in(api, tenant.id, "sari@toko.id", "wrong-guess-xyz").status_code]
        limited = log_in(api, tenant.id, "sari@toko.id")  # even the right password waits
        assert statuses == [401, 401, 401]
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
    finally:
        api.service.close()


def test_logins_are_limited_per_tenant_whatever_the_address(
    make_settings: Callable[[str], Settings],
) -> None:
    api = limited_api(make_settings, auth_rate_per_ip=100, auth_rate_per_tenant=2)
    try:
        tenant, other = api.new_tenant(), api.new_tenant("Other")
        user_with_password(api, other, "sari@toko.id")
        responses = [
            api.client.post(
                "/v1/sessions",
                json={"tenant_id": tenant.id, "email": "x@toko.id", "password": "guess-guess"},
                headers={"X-Forwarded-For": f"10.0.0.{n}"},
            ).status_code
            for n in range(3)
        ]
        assert responses == [401, 401, 429]
        # Another tenant's logins are not held up by this one's attackers.
        assert log_in(api, other.id, "sari@toko.id").status_code == 201
    finally:
        api.service.close()


def test_revocations_are_rate_limited_too(make_settings: Callable[[str], Settings]) -> None:
    api = limited_api(make_settings, auth_rate_per_ip=2)
    try:
        tenant = api.new_tenant()
        user = api.client.post(
            "/v1/users", json={"full_name": "V", "role": "agent"}, headers=tenant.auth("admin")
        ).json()
        path = f"/v1/users/{user['id']}/tokens"
        statuses = [api.client.delete(path, headers=tenant.auth("admin")).status_code]
        statuses += [api.client.delete(path, headers=tenant.auth("admin")).status_code]
        statuses += [api.client.delete(path, headers=tenant.auth("admin")).status_code]
        assert statuses == [204, 204, 429]
    finally:
        api.service.close()


def test_a_token_issued_by_another_process_works_at_once_and_bad_ones_cost_no_catch_up(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = api.new_tenant()
    other = bootstrap(api.service.settings)  # a second API process on the same database
    try:
        issued = other.tenants.register_user(
            UUID(tenant.id), "admin", "agent", {"full_name": "Dari Proses Lain"}, None
        ).value
    finally:
        other.close()
    fresh = {"Authorization": f"Bearer {issued.token}"}
    assert api.client.get("/v1/contacts", headers=fresh).status_code == 200

    waits: list[int] = []
    monkeypatch.setattr(api.service, "read_your_writes", lambda p: waits.append(p) or True)
    bad = {"Authorization": "Bearer crm_" + "x" * 43}
    assert api.client.get("/v1/contacts", headers=bad).status_code == 401
    assert waits == []  # caught up already: a wrong token is refused without waiting
