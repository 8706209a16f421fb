"""Tenant isolation (invariant 7) for every endpoint the OpenAPI document lists, present and
future: see :mod:`tests.e2e.sweep` for what each call must answer."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Principal, ServiceDep, require
from domain.contact import Contact
from domain.user import Role
from tests.e2e.access import ACCESS, Access, allow
from tests.e2e.conftest import Api
from tests.e2e.sweep import Sweep, build_world
from tests.witness import WITNESS


def run_sweep(api: Api, table: dict[tuple[str, str], Access]) -> list[str]:
    world = build_world(api)

    def victim_events() -> int:
        rows = api.service.read_models.query(
            "SELECT COUNT(*) AS n FROM audit_timeline WHERE tenant_id = :t",
            {"t": world.victim.id},
        )
        return int(rows[0]["n"])

    spec = api.client.get("/openapi.json").json()
    return Sweep(api.client, spec, table, world, victim_events).run()


def test_every_endpoint_is_scoped_to_the_callers_tenant_and_role(api: Api) -> None:
    violations = run_sweep(api, ACCESS)
    assert violations == [], "\n".join(violations)


def test_every_access_table_row_names_a_real_endpoint(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    listed = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert set(ACCESS) <= listed


# The sweep must fail on the mistakes it exists to catch. Each case below adds a broken
# endpoint to a fresh app, as a careless merge would, and expects the sweep to name it.


def api_with(api: Api, router: APIRouter) -> Api:
    app = create_app(api.service)
    app.include_router(router)
    return Api(TestClient(app, raise_server_exceptions=False), api.service)


Agent = Annotated[Principal, Depends(require(Role.ADMIN, Role.AGENT))]
Anyone = Annotated[Principal, Depends(require(*Role))]


def test_sweep_catches_an_endpoint_that_forgets_tenant_scoping(api: Api) -> None:
    router = APIRouter()

    @router.get("/v1/leaky/{contact_id}")
    def leaky(contact_id: str, service: ServiceDep, caller: Agent) -> dict[str, Any]:
        contact = service.crm.repository.get(UUID(contact_id))  # no tenant check
        assert isinstance(contact, Contact)
        return {"id": str(contact.id), **service.crm.open_contact(contact, WITNESS)}

    table = {**ACCESS, ("GET", "/v1/leaky/{contact_id}"): allow("admin", "agent")}
    violations = run_sweep(api_with(api, router), table)
    assert any("/v1/leaky/{contact_id} as other tenant's agent -> 200" in v for v in violations)


def test_sweep_catches_a_list_that_returns_other_tenants_rows(api: Api) -> None:
    router = APIRouter()

    @router.get("/v1/leaky-list")
    def leaky_list(service: ServiceDep, caller: Agent) -> dict[str, Any]:
        rows = service.read_models.query("SELECT id FROM contacts_view")  # every tenant's
        return {"items": [r["id"] for r in rows], "next_cursor": None}

    table = {**ACCESS, ("GET", "/v1/leaky-list"): allow("admin", "agent")}
    violations = run_sweep(api_with(api, router), table)
    assert any("/v1/leaky-list" in v and "victim's data" in v for v in violations)


def test_sweep_catches_a_role_check_that_is_too_lax(api: Api) -> None:
    router = APIRouter()

    @router.get("/v1/lax/{contact_id}")
    def lax(contact_id: str, service: ServiceDep, caller: Anyone) -> dict[str, str]:
        service.crm.contact(caller.tenant_id, UUID(contact_id))
        return {"id": contact_id}

    table = {**ACCESS, ("GET", "/v1/lax/{contact_id}"): allow("admin", "agent")}
    violations = run_sweep(api_with(api, router), table)
    assert any("/v1/lax/{contact_id} as own auditor -> 200" in v for v in violations)


def test_sweep_fails_on_an_endpoint_missing_from_the_table(api: Api) -> None:
    router = APIRouter()

    @router.get("/v1/unlisted/{share_id}")
    def unlisted(share_id: str, caller: Agent) -> dict[str, str]:
        return {"id": share_id}

    violations = run_sweep(api_with(api, router), ACCESS)
    assert "GET /v1/unlisted/{share_id}: not in the access table (tests/e2e/access.py)" in (
        violations
    )
