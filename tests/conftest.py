"""Shared fixtures: the real servers (started once per session) and services per test."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.clock import ManualClock
from tests.harness import PostgresServer, TansuBroker, start_postgres, start_tansu

ADMIN_TOKEN = "crm_admin_test_" + "x" * 32


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    """One Kafka-protocol broker for the session; tests keep apart by topic name."""
    broker = start_tansu()
    try:
        yield broker
    finally:
        broker.kill()


def random_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for a fresh, isolated deployment on the named backend; ``extra`` (or keyword
    overrides) adds or overrides environment variables."""

    def make(backend: str, extra: Mapping[str, str] | None = None, **overrides: str) -> Settings:
        env = {
            "CRM_DATA_DIR": str(tmp_path / "var"),
            "CRM_KEK": random_key(),
            "CRM_INDEX_KEY": random_key(),
            "CRM_SIGNING_KEY": random_key(),
            "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        if backend == "postgres":
            server: PostgresServer = request.getfixturevalue("postgres_server")
            name = "crm_" + uuid.uuid4().hex[:12]
            env["CRM_DATABASE_URL"] = server.create_database(name)
            env["CRM_KEYSTORE_URL"] = server.create_database(name + "_keys")
        env.update(extra or {})
        env.update(overrides)
        return Settings.from_env(env)

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    """The service's clock: now, until a test moves it."""
    return ManualClock()


@pytest.fixture
def service(
    make_settings: Callable[..., Settings], backend: str, clock: ManualClock
) -> Iterator[Service]:
    svc = bootstrap(make_settings(backend), clock)
    try:
        yield svc
    finally:
        svc.close()
