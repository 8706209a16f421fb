"""Where the service keeps its data: the event store's library settings, the read models'
database, the embedded files. Built from settings only."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from projections.engines import PostgresReadModels, SQLiteReadModels
from projections.store import ReadModelStore
from service.key_custody import unusable
from service.settings import Settings, SettingsError
from sqlstore.sql import check_writable, create_private_file


def event_store_env(url: str) -> dict[str, str]:
    """Translate ``CRM_DATABASE_URL`` into the eventsourcing library's settings."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlparse(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_LOCK_TIMEOUT": "5",
        }
    raise SettingsError("CRM_DATABASE_URL must start with sqlite:/// or postgresql://")


def read_models_url(settings: Settings) -> str:
    """``CRM_READ_MODELS_URL``, or the event store's own database, so that a command's read
    models commit in its transaction (:mod:`projections.in_transaction`). An embedded
    deployment made before that keeps its sibling ``<name>-views`` file: moving would leave
    the old file's blind indexes behind the erasures made after the move."""
    if settings.read_models_url:
        return settings.read_models_url
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        sibling = path.with_name(path.stem + "-views" + (path.suffix or ".db"))
        if sibling.exists():
            return f"sqlite:///{sibling}"
    return url


def shares_event_store(settings: Settings) -> bool:
    """Whether the read models live in the event store's database (one transaction can
    write both)."""
    return read_models_url(settings) == settings.database_url


def read_model_store(url: str, schema: list[str]) -> ReadModelStore:
    """The read models' database (``sqlite:///file`` or ``postgresql://``), tables created."""
    env = event_store_env(url)
    store: ReadModelStore
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        store = SQLiteReadModels(SQLiteDatastore(env["SQLITE_DBNAME"], lock_timeout=30), schema)
    else:
        datastore = PostgresDatastore(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            pool_size=2,
            max_overflow=4,
        )
        store = PostgresReadModels(datastore, schema)
    store.create_table()
    return store


def prepare_sqlite_files(settings: Settings) -> None:
    """The embedded databases' files, created private (0600, in a 0700 directory) before
    SQLite opens them (its WAL and shared-memory files take the same mode); a directory
    that cannot be written is named, with the cause, instead of failing later."""
    urls = [settings.database_url, settings.keystore_url, read_models_url(settings)]
    for url in urls:
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            try:
                create_private_file(path)
                check_writable(path)
            except OSError as exc:
                raise unusable(path, exc) from None
