"""Logs: one JSON object per line, with request and tenant ids, and never a personal value,
not from validation errors, not from failed logins, not from exceptions that quote one."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from api.logs import JsonFormatter
from tests.e2e.conftest import Api

PERSONAL = {
    "full_name": "Kusumawardhani Prameswari",
    "email": "kusumawardhani.prameswari@surel-pribadi.id",
    "phone": "+6281266554433",
    "company": "CV Tenun Ikat Sumba Timur",
    "job_title": "Kepala Bagian Rahasia",
}
PASSWORD = "sandi-pribadi-kusumawardhani"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, formatted as the service formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    # The test's own HTTP client logs the URLs it requests; that is not the service's log.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def leaked(text: str) -> list[str]:
    """Personal values found in ``text``, as they are or URL-encoded."""
    lowered = text.lower()
    values = [*PERSONAL.values(), PASSWORD]
    return [v for v in values if v.lower() in lowered or quote(v).lower() in lowered]


def exercise_every_path(api: Api) -> dict[str, Any]:
    """Requests that carry personal values through success, refusal and validation paths."""
    tenant = api.new_tenant()
    agent, admin = tenant.auth("agent"), tenant.auth("admin")
    keyed = {**agent, "Idempotency-Key": "logs-create-1"}
    created = api.client.post("/v1/contacts", json={**PERSONAL, "age": 31}, headers=keyed)
    assert created.status_code == 201
    api.client.post("/v1/contacts", json={**PERSONAL, "age": 31}, headers=keyed)  # replay
    api.client.post("/v1/contacts", json={**PERSONAL, "age": 32}, headers=keyed)  # mismatch
    cid = created.json()["id"]
    for params in ({"email": PERSONAL["email"]}, {"phone": PERSONAL["phone"]}):
        assert api.client.get("/v1/contacts", params=params, headers=agent).status_code == 200
    bad_bodies: list[Any] = [
        {"full_name": PERSONAL["full_name"], "email": PERSONAL["company"]},
        {"full_name": PERSONAL["full_name"], "age": PERSONAL["job_title"]},
        {"full_name": PERSONAL["full_name"], PERSONAL["email"]: "as a key"},
        {"full_name": PERSONAL["full_name"], "age": 9},
    ]
    for body in bad_bodies:
        assert api.client.post("/v1/contacts", json=body, headers=agent).status_code == 422
    raw = f'{{"full_name": "{PERSONAL["full_name"]}", '.encode()
    api.client.post(
        "/v1/contacts", content=raw, headers={**agent, "content-type": "application/json"}
    )
    api.client.get("/v1/contacts", params={"email": PERSONAL["full_name"]}, headers=agent)
    api.client.get("/v1/contacts", params={"typo": PERSONAL["email"]}, headers=agent)
    api.client.patch(
        f"/v1/contacts/{cid}",
        json={"full_name": PERSONAL["company"]},
        headers={**agent, "If-Match": '"7"'},
    )
    api.client.post(
        "/v1/users",
        json={
            **{k: PERSONAL[k] for k in ("full_name", "email")},
            "role": "agent",
            "password": PASSWORD,
        },
        headers=admin,
    )
    for password in (PASSWORD, PASSWORD + "-salah"):
        api.client.post(
            "/v1/sessions",
            json={"tenant_id": tenant.id, "email": PERSONAL["email"], "password": password},
        )
    api.client.get(f"/v1/contacts/{PERSONAL['email']}", headers=agent)
    api.client.get("/v1/contacts", headers={"Authorization": f"Bearer {PERSONAL['email']}"})
    return {"tenant_id": tenant.id, "contact_id": cid, "agent": agent}


def test_no_personal_value_reaches_the_logs_on_any_path(api: Api, log_lines: io.StringIO) -> None:
    exercise_every_path(api)
    assert entries(log_lines)  # the logs were captured
    assert leaked(log_lines.getvalue()) == []


def test_access_log_lines_carry_request_and_tenant_ids(api: Api, log_lines: io.StringIO) -> None:
    world = exercise_every_path(api)
    response = api.client.get(f"/v1/contacts/{world['contact_id']}", headers=world["agent"])
    access = [e for e in entries(log_lines) if e["logger"] == "crm.access"]
    mine = [e for e in access if e["request_id"] == response.headers["x-request-id"]]
    assert len(mine) == 1
    assert mine[0] == {
        **mine[0],
        "msg": "request",
        "method": "GET",
        "route": "/v1/contacts/{contact_id}",  # the template: no id in the log
        "status": 200,
        "tenant_id": world["tenant_id"],
    }
    assert all(len(e["request_id"]) == 32 for e in access)
    assert world["contact_id"] not in str(mine)


def test_an_exception_quoting_personal_data_becomes_a_plain_500_and_a_clean_log(
    api: Api, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dependency that fails with personal values in its message (as a driver or a library
    might): the caller gets a problem with no detail, the log gets ids and the type only."""
    tenant = api.new_tenant()

    def failing_keystore(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"cannot seal {PERSONAL['full_name']} <{PERSONAL['email']}>")

    monkeypatch.setattr(api.service.keystore, "key_for_sealing", failing_keystore)
    before = api.event_count()
    response = api.client.post(
        "/v1/contacts",
        json={"full_name": PERSONAL["full_name"], "email": PERSONAL["email"]},
        headers={**tenant.auth("agent"), "Idempotency-Key": "exception-path"},
    )

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:crm:problem:internal",
        "title": "Internal error",
        "status": 500,
        "detail": "the server failed; the error was logged",
    }
    assert response.headers["strict-transport-security"]
    assert api.event_count() == before
    errors = [e for e in entries(log_lines) if e["level"] == "error"]
    assert errors == [
        {
            **errors[0],
            "logger": "crm.api",
            "msg": "unhandled error",
            "request_id": response.headers["x-request-id"],
            "tenant_id": tenant.id,
            "route": "/v1/contacts",
            "error_type": "RuntimeError",
        }
    ]
    assert leaked(log_lines.getvalue() + response.text) == []
    assert "Traceback" not in log_lines.getvalue() + response.text
    # The failed request kept nothing under its key: a retry runs again.
    monkeypatch.undo()
    retry = api.client.post(
        "/v1/contacts",
        json={"full_name": PERSONAL["full_name"], "email": PERSONAL["email"]},
        headers={**tenant.auth("agent"), "Idempotency-Key": "exception-path"},
    )
    assert retry.status_code == 201


def test_a_failing_read_dependency_is_a_plain_500_too(
    api: Api, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **PERSONAL)

    def failing_key(*args: Any, **kwargs: Any) -> Any:
        raise OSError(f"keystore unreachable while opening {PERSONAL['phone']}")

    monkeypatch.setattr(api.service.keystore, "key_for_opening", failing_key)
    response = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent"))
    assert response.status_code == 500
    assert leaked(log_lines.getvalue() + response.text) == []
    assert any(e.get("error_type") == "OSError" for e in entries(log_lines))
