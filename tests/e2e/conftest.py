"""An API client over the real app, with helpers to set up tenants and users."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.harness import free_port


@dataclass
class Tenant:
    id: str
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


class Api:
    """The HTTP client plus the steps most tests start with."""

    def __init__(self, client: TestClient, service: Service) -> None:
        self.client = client
        self.service = service

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


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes another process use the same deployment as ``settings``."""
    return {
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_KEYSTORE_URL": settings.keystore_url,
        "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
        "CRM_MAX_BODY_BYTES": str(settings.max_body_bytes),
    }


@dataclass
class ServerProcess:
    """``crm serve`` running as a real process; its log (stdout and stderr) in a file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> bytes:
        return self.log_path.read_bytes()


@contextmanager
def serve_process(
    settings: Settings,
    log_path: Path,
    *,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    scheme: str = "http",
    verify: Any = True,
) -> Iterator[ServerProcess]:
    """Start ``crm serve`` on a free loopback port, wait until /readyz answers, stop it after."""
    port = free_port()
    full_env = {**os.environ, **settings_env(settings), "CRM_LOG_LEVEL": "DEBUG", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"{scheme}://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=server.base_url, timeout=5, verify=verify) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the service did not become ready:\n" + log_path.read_text())
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def api_on(make_settings: Callable[[str], Settings]) -> Iterator[Callable[[str], Api]]:
    services: list[Service] = []

    def make(backend: str) -> Api:
        service = bootstrap(make_settings(backend))
        services.append(service)
        return Api(TestClient(create_app(service), raise_server_exceptions=False), service)

    yield make
    for service in services:
        service.close()


@pytest.fixture
def api(api_on: Callable[[str], Api]) -> Api:
    """The API on the production backend, PostgreSQL."""
    return api_on("postgres")
