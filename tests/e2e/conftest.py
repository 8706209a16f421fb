"""An API client over the real app, with helpers to set up tenants and users."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from crypto.sealer import Disclosure, StorageOpenings
from domain.access import AccessRecord
from service.bootstrap import Service, bootstrap
from service.disclosure import AccessLog
from service.settings import Settings
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN
from tests.witness import Witness

ACCESS_TOPIC = f"{AccessRecord.Recorded.__module__}:{AccessRecord.Recorded.__qualname__}"


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
        return stored_access_records(self.service)


def point_the_cli_at(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the environment so that ``crm`` commands run in-process open ``service``'s
    deployment (its data directory and keys)."""
    settings = service.settings
    for name, value in {
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_KEK": settings.kek or "",
        "CRM_INDEX_KEY": settings.index_key or "",
        "CRM_SIGNING_KEY": settings.signing_key or "",
    }.items():
        monkeypatch.setenv(name, value)


def stored_access_records(service: Service) -> list[dict[str, Any]]:
    """Every access record in the service's event store, oldest first."""
    recorder = service.crm.ledger_recorder
    notifications = recorder.select_notifications(start=1, limit=10**6, topics=[ACCESS_TOPIC])
    events = [service.crm.mapper.to_domain_event(n) for n in notifications]
    return [vars(e) for e in events]


@dataclass
class OpeningsLedger:
    """Every opening the service makes while a test runs, beside every answer it gave: at
    the end, each answer that carried opened values must have exactly one access record,
    and no opening may go through anything but the decision point (DESIGN invariant 12),
    storage openings, or a test's own :class:`~tests.witness.Witness`.
    Installed on every service the e2e tests build, so the whole suite counts."""

    service: Service
    opened: dict[str, set[UUID]] = field(default_factory=dict)  # request id -> subjects
    answered: dict[str, int] = field(default_factory=dict)  # request id -> status
    strays: list[str] = field(default_factory=list)

    def install(self, client: TestClient) -> None:
        sealer = self.service.crm.sealer
        open_cells = sealer.open_cells

        def witnessed(
            tenant_id: UUID, subject_id: UUID, cells: Sequence[Any], disclosure: Disclosure
        ) -> list[Any]:
            if not cells:
                pass  # nothing to open
            elif isinstance(disclosure, AccessLog) and disclosure.request_id is not None:
                self.opened.setdefault(disclosure.request_id, set()).add(subject_id)
            elif not isinstance(disclosure, StorageOpenings | AccessLog | Witness):
                self.strays.append(type(disclosure).__name__)
            return open_cells(tenant_id, subject_id, cells, disclosure)

        sealer.open_cells = witnessed  # type: ignore[method-assign]
        client.event_hooks["response"].append(self._answered)

    def _answered(self, response: httpx.Response) -> None:
        request_id = response.headers.get("x-request-id")
        if request_id:
            self.answered[request_id] = response.status_code

    def check(self) -> None:
        assert not self.strays, f"openings that bypassed the decision point: {self.strays}"
        owed = {
            rid: subjects
            for rid, subjects in self.opened.items()
            if 200 <= self.answered.get(rid, 0) < 300
        }
        if not owed:
            return
        records: dict[str, list[set[str]]] = {}
        for record in stored_access_records(self.service):
            if record["request_id"] in owed:
                records.setdefault(record["request_id"], []).append(set(record["subject_ids"]))
        for rid, subjects in owed.items():
            kept = records.get(rid, [])
            assert len(kept) == 1, f"request {rid} opened values: {len(kept)} records, not 1"
            assert {str(s) for s in subjects} <= kept[0], f"request {rid}: subjects missing"


@pytest.fixture
def api_on(
    make_settings: Callable[..., Settings], clock: ManualClock
) -> Iterator[Callable[..., Api]]:
    services: list[Service] = []
    ledgers: list[OpeningsLedger] = []

    def make(backend: str, extra: Mapping[str, str] | None = None) -> Api:
        service = bootstrap(make_settings(backend, extra), clock)
        services.append(service)
        client = TestClient(create_app(service), raise_server_exceptions=False)
        ledger = OpeningsLedger(service)
        ledger.install(client)
        ledgers.append(ledger)
        return Api(client, service, clock)

    yield make
    try:
        for ledger in ledgers:
            ledger.check()
    finally:
        for service in services:
            service.close()


@pytest.fixture
def api(api_on: Callable[[str], Api]) -> Api:
    """The API on the production backend, PostgreSQL."""
    return api_on("postgres")
