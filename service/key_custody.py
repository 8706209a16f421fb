"""Key material is made only for an empty deployment, and must match the data it guards.

A lost key file used to be replaced silently at the next start: a new KEK made every data
key unreadable (500s), a new index key made every email and phone search find nothing, a
missing keystore made every contact look erased (410) and took the erasure fences with it,
new signing keys broke ``verify`` and the key auditors pinned (invariant 14). So:

- a key file is created only while the event store holds no event (a new deployment);
- the keys' public fingerprints (keyed hashes, public keys, the keystore's own id) are
  recorded in the event store's database when it is initialised, and compared at every
  start that opens it: a different key is refused by name;
- with events present, a missing key, a missing or empty keystore, or a keystore that is
  not the deployment's, stops the process with what is missing and what to do;
- the KEK must be one the keystore knows (or, during a rotation, its predecessor must be).

Fingerprints never reveal a key: secrets are named by an HMAC under themselves, signing
keys by their public key, the KEK by its id (a truncated hash, as before).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from crypto.kek import decode_key, load_or_create_key_file
from service.settings import Settings, SettingsError
from sqlstore.sql import open_database
from storage.recorders import LedgerRecorder

MANIFEST_SCHEMA = """CREATE TABLE IF NOT EXISTS key_manifest (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    recorded_at TEXT NOT NULL
)"""
# The events table as the library names it: SQLite's default, PostgreSQL's "<app>_events".
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "crm_events"}


class KeyCustodyError(SettingsError):
    """Key material is missing, or is not the material the stored data was made with."""


@dataclass(frozen=True)
class Deployment:
    """What the event store says about the deployment before anything is created in it:
    whether it holds events (then no key may be made any more)."""

    has_events: bool

    def key(self, variable: str, inline: str | None, path: Path) -> bytes:
        """``variable`` (inline base64) or its file; the file is created only for a new
        deployment, never over existing data."""
        if inline:
            return decode_key(inline, variable)
        if self.has_events and not path.exists():
            raise KeyCustodyError(
                f"{variable}_FILE {path} is missing, but the event store holds events made"
                f" with it: restore the file from where the deployment's keys are kept (or set"
                f" {variable}); a new key would not open, search or verify the existing data"
            )
        try:
            return load_or_create_key_file(path, variable)
        except FileExistsError:  # another process of a new deployment made it first
            return decode_key(path.read_text(), f"{variable} file {path}")
        except OSError as exc:
            raise unusable(path, exc) from None


def unusable(path: Path, exc: OSError) -> KeyCustodyError:
    """A data file or directory that cannot be read or written, named with the cause."""
    cause = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    where = exc.filename or path
    return KeyCustodyError(f"{where}: {cause} (check the path, its permissions and free space)")


def probe(settings: Settings) -> Deployment:
    """Read the event store without creating anything in it."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return _probe_sqlite(Path(url.removeprefix("sqlite:///")))
    return _probe_postgres(url)


def _probe_sqlite(path: Path) -> Deployment:
    if not path.exists():
        return Deployment(has_events=False)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        raise unusable(path, PermissionError(errno.EACCES, "")) from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        events = "stored_events" in tables and bool(
            conn.execute("SELECT 1 FROM stored_events LIMIT 1").fetchall()
        )
    except sqlite3.Error:
        raise unusable(path, PermissionError(errno.EACCES, "")) from None
    finally:
        conn.close()
    return Deployment(events)


def _probe_postgres(url: str) -> Deployment:
    table = EVENTS_TABLE["postgres"]
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        events = bool(row and row[0]) and bool(
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
        )
    return Deployment(events)


def check_keystore_present(settings: Settings, deployment: Deployment) -> None:
    """With events present, an SQLite keystore file must exist (opening it would create an
    empty one: every subject would look erased and every erasure fence would be gone)."""
    url = settings.keystore_url
    if deployment.has_events and url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise KeyCustodyError(missing_keystore(str(path)))


def missing_keystore(where: str) -> str:
    return (
        f"CRM_KEYSTORE_URL: the keystore {where} is missing or empty, but the event store holds"
        " events: restore the keystore from its backup. Starting without it would make every"
        " subject look erased and lose every erasure fence"
    )


# Keys a deployment can replace when one is truly lost (README, "Key custody at start"):
# what they made can be made again (blind indexes, by a rebuild) or is short-lived (stored
# responses, rate-limit windows), or stays verifiable under the old public key (certificates).
ADOPTABLE = ("CRM_INDEX_KEY", "CRM_API_SECRET", "CRM_SIGNING_KEY")


def adopt(settings: Settings, name: str) -> None:
    """Forget the recorded fingerprint of ``name``: the next start records the key it finds."""
    if name not in ADOPTABLE:
        raise KeyCustodyError(f"{name} cannot be adopted anew; only {', '.join(ADOPTABLE)}")
    db = open_database(settings.database_url)
    try:
        db.run_script([MANIFEST_SCHEMA])
        with db.transaction() as cur:
            cur.execute("DELETE FROM key_manifest WHERE name = :name", {"name": name})
    finally:
        db.close()


def check_ledger_key(recorder: LedgerRecorder, public_key: str) -> None:
    """The ledger's signed head names the key that signed it: a different key would sign a
    history no auditor's pinned key verifies."""
    rows = recorder.query("SELECT public_key FROM ledger_head WHERE id = 1")
    if rows and rows[0]["public_key"] != public_key:
        raise KeyCustodyError(
            "CRM_LEDGER_SIGNING_KEY is not the key that signed this ledger (its head was"
            f" signed by {rows[0]['public_key']}): restore the original ledger signing key"
        )


def bind(recorder: LedgerRecorder, fingerprints: Mapping[str, str]) -> None:
    """Record the keys' fingerprints in the event store's database the first time (a new
    deployment, or a key the manifest did not list yet), and refuse keys that differ from
    those recorded: nothing made with the old key would open, search or verify."""
    recorder.execute_write(MANIFEST_SCHEMA)
    now = datetime.now(UTC).isoformat()
    with recorder.write() as cur:
        for name, value in fingerprints.items():
            cur.execute(
                "INSERT INTO key_manifest (name, fingerprint, recorded_at)"
                " VALUES (:name, :fp, :now) ON CONFLICT (name) DO NOTHING",
                {"name": name, "fp": value, "now": now},
            )
        rows = cur.execute("SELECT name, fingerprint FROM key_manifest").fetchall()
    recorded = {str(r["name"]): str(r["fingerprint"]) for r in rows}
    for name, value in fingerprints.items():
        if recorded.get(name) != value:
            raise KeyCustodyError(
                f"{name} is not the key this deployment's data was made with (fingerprint"
                f" {value}, recorded {recorded.get(name)}): restore the original, or follow"
                " the README's recovery for it"
            )
