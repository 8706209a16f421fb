"""The reads' baseline: the least an HTTP service can do to answer one sealed contact.

A FastAPI app served as ``crm serve`` serves the product (uvicorn, the same settings, a
sync route on the thread pool), on the same PostgreSQL: one row read by primary key, its
three AES-256-GCM fields opened with ``cryptography``'s AESGCM, returned as JSON. No
authentication, no purpose, no subject keys, no record: what the product's reads cost on
top of this is what their privacy (keys, decision point, processing trail) costs.

``python -m bench.bare_app --port N --database URL`` serves it, the key in
``BENCH_BARE_KEY`` (base64url); :func:`seed` fills its table first.
"""

from __future__ import annotations

import argparse
import base64
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI, HTTPException
from psycopg_pool import ConnectionPool

FIELDS = ("full_name", "email", "phone")
NONCE = 12
POOL_SIZE = 12  # the product's event store pool: 4 connections, 8 more on demand
KEY_VARIABLE = "BENCH_BARE_KEY"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bare_contacts (id UUID PRIMARY KEY, "
    + ", ".join(f"{f} BYTEA NOT NULL" for f in FIELDS)
    + ")"
)
SELECT = f"SELECT {', '.join(FIELDS)} FROM bare_contacts WHERE id = %s"


def _label(row_id: uuid.UUID, field: str) -> bytes:
    """Associated data: a sealed value opens only as the field of the row it was made for."""
    return f"{row_id}/{field}".encode()


def seal(aead: AESGCM, row_id: uuid.UUID, field: str, value: str) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + aead.encrypt(nonce, value.encode(), _label(row_id, field))


def open_sealed(aead: AESGCM, row_id: uuid.UUID, field: str, sealed: bytes) -> str:
    return aead.decrypt(sealed[:NONCE], sealed[NONCE:], _label(row_id, field)).decode()


def seed(url: str, key: bytes, count: int) -> list[uuid.UUID]:
    """``count`` rows of three sealed fields, in one transaction; their ids."""
    aead = AESGCM(key)
    ids = [uuid.uuid4() for _ in range(count)]
    values = {"full_name": "Budi Santoso {n}", "email": "budi{n}@example.id", "phone": "+62812{n}"}
    rows: list[Sequence[Any]] = [
        (row_id, *(seal(aead, row_id, f, values[f].format(n=n)) for f in FIELDS))
        for n, row_id in enumerate(ids)
    ]
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO bare_contacts (id, {', '.join(FIELDS)}) VALUES (%s, %s, %s, %s)",
                rows,
            )
    return ids


def create_app(url: str, key: bytes) -> FastAPI:
    aead = AESGCM(key)
    pool = ConnectionPool(url, min_size=4, max_size=POOL_SIZE, open=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/rows/{row_id}")
    def read_row(row_id: uuid.UUID) -> dict[str, str]:
        with pool.connection() as conn:
            row = conn.execute(SELECT, (row_id,)).fetchone()
        if row is None:
            raise HTTPException(404)
        return {
            "id": str(row_id),
            **{f: open_sealed(aead, row_id, f, bytes(v)) for f, v in zip(FIELDS, row, strict=True)},
        }

    return app


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="postgresql:// URL")
    args = parser.parse_args(argv)
    key = base64.urlsafe_b64decode(os.environ[KEY_VARIABLE])
    # As ``crm serve`` runs uvicorn (api/cli.py), TLS aside.
    uvicorn.run(
        create_app(args.database, key),
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
