"""Builds the whole service from settings: stores, keys, projections. Nothing else wires."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from crypto.blind_index import BlindIndex
from crypto.kek import LocalKeyEncryptionKey, decode_key, load_or_create_key_file
from crypto.keystore import SqlKeystore
from crypto.sealer import SubjectSealer
from crypto.signing import Signer
from projections.audit import AuditTimelineProjection
from projections.contacts import ContactsProjection
from projections.erasures import ErasuresProjection
from projections.principals import PrincipalsProjection
from projections.runner import Projection, ProjectionRunner
from projections.store import PostgresReadModels, ReadModelStore, SQLiteReadModels
from projections.users import UsersProjection
from service.crm import CRM
from service.idempotency import IdempotencyStore
from service.rate_limits import RateLimiter
from service.settings import Settings, SettingsError
from storage.sql import SqlDatabase, open_database


@dataclass
class Service:
    """Everything a process needs, built once."""

    settings: Settings
    crm: CRM
    keystore: SqlKeystore
    keystore_db: SqlDatabase
    read_models: ReadModelStore
    runner: ProjectionRunner
    signer: Signer
    blind_index: BlindIndex
    admin_token: str
    edge_db: SqlDatabase
    idempotency: IdempotencyStore
    rate_limiter: RateLimiter

    def close(self) -> None:
        self.crm.close()
        self.keystore_db.close()
        self.edge_db.close()
        close = getattr(getattr(self.read_models, "datastore", None), "close", None)
        if close is not None:
            close()


def _key(inline: str | None, path: Path, what: str) -> bytes:
    return decode_key(inline, what) if inline else load_or_create_key_file(path, what)


def _admin_token(settings: Settings) -> str:
    if settings.admin_token:
        return settings.admin_token
    path = settings.admin_token_file
    if path.exists():
        return path.read_text().strip()
    token = "crm_admin_" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


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


def read_models_url(url: str) -> str:
    """Where read models (and the API's own tables) live: a sibling SQLite file, or the same
    PostgreSQL database as the event store (in tables of their own)."""
    env = event_store_env(url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = Path(env["SQLITE_DBNAME"])
        return "sqlite:///" + str(path.with_name(path.stem + "-views" + (path.suffix or ".db")))
    return url


def read_model_store(url: str, schema: list[str]) -> ReadModelStore:
    """Read models beside the event store: a sibling SQLite file, or the same PostgreSQL db."""
    env = event_store_env(url)
    store: ReadModelStore
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = Path(env["SQLITE_DBNAME"])
        views = path.with_name(path.stem + "-views" + (path.suffix or ".db"))
        store = SQLiteReadModels(SQLiteDatastore(str(views), lock_timeout=30), schema)
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


def bootstrap(settings: Settings) -> Service:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    kek = LocalKeyEncryptionKey(_key(settings.kek, settings.kek_file, "CRM_KEK"))
    keystore_db = open_database(settings.keystore_url)
    keystore = SqlKeystore(keystore_db, kek)
    keystore.create_tables()
    sealer = SubjectSealer(keystore)
    crm = CRM(event_store_env(settings.database_url), sealer, keystore)
    blind_index = BlindIndex(_key(settings.index_key, settings.index_key_file, "CRM_INDEX_KEY"))
    projections: list[Projection] = [
        PrincipalsProjection(),
        UsersProjection(sealer, blind_index),
        ContactsProjection(sealer, blind_index),
        AuditTimelineProjection(),
        ErasuresProjection(),
    ]
    read_models = read_model_store(
        settings.database_url, [s for p in projections for s in p.schema]
    )
    api_secret = _key(settings.api_secret, settings.api_secret_file, "CRM_API_SECRET")
    edge_db = open_database(read_models_url(settings.database_url))
    idempotency = IdempotencyStore(edge_db, api_secret, settings.idempotency_ttl_seconds)
    idempotency.create_tables()
    rate_limiter = RateLimiter(edge_db, api_secret)
    rate_limiter.create_tables()
    return Service(
        settings=settings,
        crm=crm,
        keystore=keystore,
        keystore_db=keystore_db,
        read_models=read_models,
        runner=ProjectionRunner(crm, read_models, projections),
        signer=Signer(_key(settings.signing_key, settings.signing_key_file, "CRM_SIGNING_KEY")),
        blind_index=blind_index,
        admin_token=_admin_token(settings),
        edge_db=edge_db,
        idempotency=idempotency,
        rate_limiter=rate_limiter,
    )
