"""The start-up key check on PostgreSQL, where the keystore is a database, not a file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from crypto.errors import KeyConfigurationError
from service.bootstrap import bootstrap
from service.key_custody import KeyCustodyError
from service.settings import Settings
from tests.conftest import random_key


def existing(make_settings: Callable[..., Settings]) -> Settings:
    """A deployment holding a contact, stopped."""
    settings = make_settings("postgres")
    service = bootstrap(settings)
    tenant, _ = service.tenants.create("Toko").value
    service.contacts.register(tenant.id, "agent", {"full_name": "Komang Wirawan"})
    service.close()
    return settings


def same(settings: Settings, **changes: str) -> Settings:
    env = {
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_KEYSTORE_URL": settings.keystore_url,
        "CRM_KEK": settings.kek or "",
        "CRM_INDEX_KEY": settings.index_key or "",
        "CRM_SIGNING_KEY": settings.signing_key or "",
        "CRM_LEDGER_SIGNING_KEY": settings.ledger_signing_key or "",
        "CRM_API_SECRET": settings.api_secret or "",
        "CRM_ADMIN_TOKEN": settings.admin_token or "",
    }
    return Settings.from_env({**env, **changes})


def test_an_emptied_keystore_database_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = existing(make_settings)
    with psycopg.connect(settings.keystore_url, autocommit=True) as db:
        db.execute("DROP TABLE subject_keys, key_encryption_keys, keystore_identity")

    with pytest.raises(KeyCustodyError, match=r"CRM_KEYSTORE_URL.*restore"):
        bootstrap(settings)


def test_another_deployments_keystore_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = existing(make_settings)
    other = make_settings("postgres", CRM_KEK=settings.kek or "")
    bootstrap(other).close()

    with pytest.raises(KeyCustodyError, match="CRM_KEYSTORE_URL"):
        bootstrap(same(settings, CRM_KEYSTORE_URL=other.keystore_url))


@pytest.mark.parametrize(
    "variable", ["CRM_INDEX_KEY", "CRM_SIGNING_KEY", "CRM_LEDGER_SIGNING_KEY", "CRM_API_SECRET"]
)
def test_a_different_key_is_refused_by_name(
    make_settings: Callable[..., Settings], variable: str
) -> None:
    settings = existing(make_settings)

    with pytest.raises(KeyCustodyError, match=variable):
        bootstrap(same(settings, **{variable: random_key()}))


def test_a_different_kek_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = existing(make_settings)

    with pytest.raises(KeyConfigurationError, match="CRM_KEK"):
        bootstrap(same(settings, CRM_KEK=random_key()))


def test_a_deployment_from_before_the_manifest_records_its_keys_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    settings = existing(make_settings)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        db.execute("DROP TABLE key_manifest")

    bootstrap(settings).close()  # adopts the keys it finds (the ledger key checked by its head)

    with pytest.raises(KeyCustodyError, match="CRM_INDEX_KEY"):
        bootstrap(same(settings, CRM_INDEX_KEY=random_key()))


def connections_to(settings: Settings) -> int:
    """Client connections to the deployment's two databases, this query's own left out,
    once closed ones are gone (a server process leaves the list just after its client)."""
    names = [url.rsplit("/", 1)[1] for url in (settings.database_url, settings.keystore_url)]
    deadline = time.monotonic() + 5
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        while True:
            row = db.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                [names],
            ).fetchone()
            assert row is not None
            if row[0] == 0 or time.monotonic() > deadline:
                return int(row[0])
            time.sleep(0.05)


@pytest.mark.parametrize(
    "variable",
    # Refused after the event store's pools, its group committer and the read models'
    # store are open: the ledger's key (checked against its head), another key (by the
    # manifest).
    ["CRM_LEDGER_SIGNING_KEY", "CRM_INDEX_KEY"],
)
def test_a_refused_start_leaves_no_connection_or_thread_behind(
    make_settings: Callable[..., Settings], variable: str
) -> None:
    settings = existing(make_settings)
    threads_before = {t.ident for t in threading.enumerate()}
    assert connections_to(settings) == 0

    for _ in range(3):  # a supervisor retrying the start must not pile them up
        with pytest.raises(KeyCustodyError):
            bootstrap(same(settings, **{variable: random_key()}))

    assert connections_to(settings) == 0
    assert [t.name for t in threading.enumerate() if t.ident not in threads_before] == []
