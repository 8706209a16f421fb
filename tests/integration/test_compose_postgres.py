"""The Compose deployment's database set-up, on a real PostgreSQL 15 with password logins.

What ``docker compose up`` does on a fresh volume, without Docker: ``deploy/init-secrets.sh``
makes the passwords, ``deploy/postgres/10-roles.sh`` makes the roles and databases as the
postgres image runs it, and the service then starts with the compose file's own environment,
its URLs carrying no password: libpq finds them in the pgpass secret.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.bootstrap import bootstrap
from service.settings import Settings
from tests.harness import PostgresServer, start_postgres
from tests.unit.test_compose import ROOT, compose, environment, mounted_secrets, services
from tests.witness import WITNESS


def _secrets_as_mounted(source: Path, service: str, target: Path) -> Path:
    """``target`` laid out as the service's /run/secrets: each secret file under its name."""
    target.mkdir()
    for path, secret in mounted_secrets(services()[service]).items():
        file = Path(compose()["secrets"][secret]["file"]).name
        shutil.copyfile(source / file, target / path.name)
        (target / path.name).chmod(0o600)
    return target


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostgresServer, Path]]:
    """A server initialised as the postgres container is, password logins for the roles;
    yields it and the CRM containers' /run/secrets."""
    root = tmp_path_factory.mktemp("compose")
    env = dict(os.environ)
    if os.geteuid() != 0:
        env.update(CRM_UID=str(os.geteuid()), PG_UID=str(os.geteuid()))
    subprocess.run(
        [ROOT / "deploy" / "init-secrets.sh", root / "secrets"], env=env, check=True, text=True
    )
    server = start_postgres()
    try:
        pg_secrets = _secrets_as_mounted(root / "secrets", "postgres", root / "pg-run-secrets")
        subprocess.run(
            [ROOT / "deploy" / "postgres" / "10-roles.sh"],
            env={
                **os.environ,
                "PGHOST": "127.0.0.1",
                "PGPORT": str(server.port),
                "POSTGRES_USER": "postgres",
                "CRM_POSTGRES_SECRETS": str(pg_secrets),
            },
            check=True,
            capture_output=True,
        )
        # The harness trusts every login; the image asks for a password over TCP.
        hba = server.data / "pg_hba.conf"
        hba.write_text(
            "host all crm_events,crm_keys 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
        )
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        crm_secrets = _secrets_as_mounted(root / "secrets", "api", root / "crm-run-secrets")
        pgpass = crm_secrets / "crm_pgpass"
        pgpass.write_text(pgpass.read_text().replace("postgres:5432:", f"127.0.0.1:{server.port}:"))
        yield server, crm_secrets
    finally:
        server.stop()


def compose_environment(server: PostgresServer, secrets: Path) -> dict[str, str]:
    """The API container's environment, pointed at this server and these secret files."""
    env = {}
    for name, value in environment(services()["api"]).items():
        value = value.replace("@postgres:5432/", f"@127.0.0.1:{server.port}/")
        env[name] = value.replace("/run/secrets/", f"{secrets}/")
    return env


def table_owners(server: PostgresServer, database: str) -> set[str]:
    with psycopg.connect(server.url(database)) as conn:
        rows = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_the_service_starts_on_the_compose_roles_with_passwords_only_in_pgpass(
    deployment: tuple[PostgresServer, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server, secrets = deployment
    env = compose_environment(server, secrets)
    monkeypatch.setenv("PGPASSFILE", env["PGPASSFILE"])  # libpq reads it from the process
    env["CRM_DATA_DIR"] = str(tmp_path / "unused")
    with bootstrap(Settings.from_env(env)) as service:
        tenant, _ = service.tenants.create("Toko Compose").value
        contact, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Budi"})
        service.runner.catch_up()
        opened = service.crm.open_contact(service.crm.contact(tenant.id, contact.id), WITNESS)
    assert opened["full_name"] == "Budi"
    assert table_owners(server, "crm") == {"crm_events"}
    assert table_owners(server, "crm_keys") == {"crm_keys"}


@pytest.mark.parametrize(("role", "database"), [("crm_events", "crm_keys"), ("crm_keys", "crm")])
def test_each_role_is_refused_the_other_roles_database(
    deployment: tuple[PostgresServer, Path], role: str, database: str
) -> None:
    server, secrets = deployment
    pgpass = secrets / "crm_pgpass"
    password = next(
        line.rsplit(":", 1)[1]
        for line in pgpass.read_text().splitlines()
        if line.split(":")[3] == role
    )
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(
            f"postgresql://{role}@127.0.0.1:{server.port}/{database}", password=password
        ).close()


def test_without_the_pgpass_file_the_roles_cannot_log_in(
    deployment: tuple[PostgresServer, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server, secrets = deployment
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    url = compose_environment(server, secrets)["CRM_DATABASE_URL"]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url, connect_timeout=5).close()
