"""An API client over the real app, with helpers to set up tenants and users."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN


@dataclass
class Tenant:
    id: str
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


class Api:
    """The HTTP client plus the steps most tests start with."""

    def __init__(
        self, client: TestClient, service: Service, clock: ManualClock | None = None
    ) -> None:
        self.client = client
        self.service = service
        self.clock = clock or ManualClock()

    def new_tenant(self, name: str = "Toko Sejahtera") -> Tenant:
        created = self.client.post(
            "/v1/tenants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        tenant = Tenant(body["id"], {"admin": body["admin_token"]})
        for role in ("agent", "pic", "privacy_officer", "auditor"):
            user = self.client.post(
                "/v1/users",
                json={"full_name": f"User {role}", "role": role},
                headers=tenant.auth("admin"),
            )
            assert user.status_code == 201, user.text
            tenant.tokens[role] = user.json()["token"]
        return tenant

    def new_contact(self, tenant: Tenant, **fields: Any) -> dict[str, Any]:
        fields.setdefault("full_name", "Agus Wibowo")
        response = self.client.post("/v1/contacts", json=fields, headers=tenant.auth("agent"))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def event_count(self) -> int:
        return self.service.crm.recorder.max_notification_id() or 0

    def command_events(self) -> int:
        """Events stored by commands: every event but the access records that answers with
        personal values add to the processing trail."""
        recorder = self.service.crm.ledger_recorder
        rows = recorder.query(
            f"SELECT COUNT(*) AS n FROM {recorder.events_table} WHERE topic NOT LIKE :access",
            {"access": "%AccessRecord%"},
        )
        return int(rows[0]["n"])

    def access_records(self) -> list[dict[str, Any]]:
        """Every access record stored, oldest first, as its event's fields."""
        recorder = self.service.crm.ledger_recorder
        notifications = recorder.select_notifications(start=1, limit=10**6)
        events = [self.service.crm.mapper.to_domain_event(n) for n in notifications]
        return [vars(e) for e in events if type(e).__qualname__ == "AccessRecord.Recorded"]


@pytest.fixture
def api_on(
    make_settings: Callable[..., Settings], clock: ManualClock
) -> Iterator[Callable[..., Api]]:
    services: list[Service] = []

    def make(backend: str, extra: Mapping[str, str] | None = None) -> Api:
        service = bootstrap(make_settings(backend, extra), clock)
        services.append(service)
        app = create_app(service)
        return Api(TestClient(app, raise_server_exceptions=False), service, clock)

    yield make
    for service in services:
        service.close()


@pytest.fixture
def api(api_on: Callable[[str], Api]) -> Api:
    """The API on the production backend, PostgreSQL."""
    return api_on("postgres")
