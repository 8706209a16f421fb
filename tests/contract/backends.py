"""Datastores for the contract cases, built from the harness's server rather than from the
library's ``POSTGRES_*`` environment variables: each case gets a database of its own (a
fresh PostgreSQL database on the session's server, or a SQLite file in its temp dir), so
the library's cases, which assume empty tables, run as they do in the library's suite."""

from __future__ import annotations

import uuid
from urllib.parse import unquote, urlsplit

from eventsourcing.postgres import PostgresDatastore

from crypto.signing import Signer
from storage.ledger import CheckpointPolicy, LedgerWriter
from tests.harness import PostgresServer


def new_postgres_url(server: PostgresServer, prefix: str) -> str:
    return server.create_database(f"{prefix}_{uuid.uuid4().hex[:12]}")


def postgres_datastore(url: str, *, pool_size: int = 2, max_overflow: int = 2) -> PostgresDatastore:
    """The library's datastore for ``postgresql://user[:password]@host:port/dbname``."""
    parts = urlsplit(url)
    return PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "127.0.0.1",
        port=str(parts.port or 5432),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        pool_size=pool_size,
        max_overflow=max_overflow,
    )


def new_ledger() -> LedgerWriter:
    """A ledger as the service builds one, with a throwaway signing key."""
    return LedgerWriter(Signer(uuid.uuid4().bytes * 2), CheckpointPolicy())
