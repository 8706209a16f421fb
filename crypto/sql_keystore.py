"""The keystore in its own database: a row per subject, the key stored only wrapped.

A subject's row is also its erasure fence (invariant 10, :mod:`crypto.keystore`). Writers
race on the primary key, so exactly one key ever exists per subject. First keys are stored
by group commit (:mod:`crypto.key_creation`): concurrent first uses share one keystore
transaction, the primary key still deciding.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from crypto import aead
from crypto.errors import KeyConfigurationError, KeyDestroyed
from crypto.kek import KeyEncryptionKeyProvider
from crypto.key_cache import KeyCache
from crypto.key_creation import BatchSizes, KeyCreations, NewKey
from crypto.key_evictions import DESTROYED_CHANNEL, DestroyedKeyListener
from crypto.keystore import (
    DataKey,
    Destruction,
    Keystore,
    destruction_at,
    utc_now,
    wrap_context,
)
from sqlstore.sql import SqlCursor, SqlDatabase, in_list

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS subject_keys (
        subject_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        kek_id TEXT,
        wrapped_key TEXT,
        created_at TEXT NOT NULL,
        destroyed_at TEXT,
        wrapped_under TEXT,
        erasure_id TEXT,
        recorded_at TEXT,
        CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
    )""",
    """CREATE TABLE IF NOT EXISTS key_encryption_keys (
        kek_id TEXT PRIMARY KEY,
        first_used_at TEXT NOT NULL,
        destroyed_at TEXT
    )""",
    # The keystore's own name, recorded by the event store: a keystore of another deployment
    # (or a new, empty one) is then told apart from the right one restored from backup.
    """CREATE TABLE IF NOT EXISTS keystore_identity (
        keystore_id TEXT PRIMARY KEY
    )""",
]
KEYS_PER_QUERY = 500  # subjects per bulk key read: well under either engine's parameter limit
# Columns added after the first release, for keystores created before them.
ADDED_COLUMNS = {"subject_keys": {"erasure_id": "TEXT", "recorded_at": "TEXT"}}
INDEXES = [
    "CREATE INDEX IF NOT EXISTS subject_keys_kek ON subject_keys (kek_id)",
    # Erasures whose key is destroyed but whose events are not (yet) known to be stored.
    "CREATE INDEX IF NOT EXISTS subject_keys_unrecorded ON subject_keys (destroyed_at)"
    " WHERE destroyed_at IS NOT NULL AND recorded_at IS NULL",
]


class SqlKeystore(Keystore):
    """A keystore in its own database (never the event store's tables).

    Unwrapped keys are cached per process (bounded, short-lived) and evicted when this
    process destroys them, and, on PostgreSQL, when any process does
    (:meth:`follow_destructions`); every read path also checks the subject's erasure in the
    event store or read model.
    """

    def __init__(
        self,
        db: SqlDatabase,
        kek: KeyEncryptionKeyProvider,
        cache: KeyCache[tuple[UUID, DataKey]] | None = None,
        key_batch_sizes: BatchSizes | None = None,
    ) -> None:
        self.db = db
        self.kek = kek
        self.cache: KeyCache[tuple[UUID, DataKey]] = cache or KeyCache()
        self.creations = KeyCreations(db, batch_sizes=key_batch_sizes)
        self._listener: DestroyedKeyListener | None = None

    def initialised(self) -> bool:
        """Whether this keystore was ever used: it has recorded a KEK."""
        try:
            with self.db.reading() as cur:
                row = cur.execute("SELECT COUNT(*) AS n FROM key_encryption_keys").fetchone()
        except Exception:  # no table yet: sqlite3 and psycopg differ, both mean "never used"
            return False
        return bool(row and int(row["n"]))

    def create_tables(self) -> None:
        self.db.run_script(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            self.db.add_missing_columns(table, columns)
        self.db.run_script(INDEXES)
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO keystore_identity (keystore_id) SELECT :id"
                " WHERE NOT EXISTS (SELECT 1 FROM keystore_identity)",
                {"id": uuid.uuid4().hex},
            )

    def identity(self) -> str:
        with self.db.reading() as cur:
            row = cur.execute("SELECT keystore_id FROM keystore_identity").fetchone()
        return str(row["keystore_id"]) if row else ""

    def register_kek(self, *, allow_new: bool) -> None:
        """Record the current KEK as one this keystore uses. A KEK the keystore has never
        seen is taken only for a new deployment, or as the successor of one it knows (a
        rotation, with the old KEK still supplied); otherwise it would wrap new keys under a
        KEK nothing else is under, while every existing key stays unreadable."""
        with self.db.transaction() as cur:
            rows = cur.execute("SELECT kek_id FROM key_encryption_keys").fetchall()
            known = {str(r["kek_id"]) for r in rows}
            if self.kek.kek_id in known:
                return
            if known and not allow_new and not known & set(self.kek.kek_ids):
                raise KeyConfigurationError(
                    f"CRM_KEK: {self.kek.kek_id} is not a key-encryption key this keystore"
                    f" was wrapped with (it knows {', '.join(sorted(known))}): restore the KEK"
                    " (CRM_KEK or CRM_KEK_FILE), or rotate to a new one with the old one"
                    " still supplied (CRM_KEK_PREVIOUS, or a retired KEK file)"
                )
            cur.execute(
                "INSERT INTO key_encryption_keys (kek_id, first_used_at) VALUES (:kek, :now)"
                " ON CONFLICT (kek_id) DO NOTHING",
                {"kek": self.kek.kek_id, "now": utc_now().isoformat()},
            )

    def check_unwrapping(self) -> None:
        """Unwrap the newest live data key, bypassing the cache: readiness proves the KEK
        (or the KMS behind it) still opens the keys, not only that the database answers."""
        with self.db.reading() as cur:
            row = cur.execute(
                "SELECT subject_id, tenant_id, key_id, kek_id, wrapped_key FROM subject_keys"
                " WHERE wrapped_key IS NOT NULL ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
        if row is not None:
            self.kek.unwrap(
                row["kek_id"],
                base64.b64decode(row["wrapped_key"]),
                wrap_context(UUID(row["tenant_id"]), UUID(row["subject_id"]), row["key_id"]),
            )

    def key_for_sealing(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        """The subject's key; a first key is stored through group commit, so concurrent
        first uses share one keystore transaction (:mod:`crypto.key_creation`)."""
        existing = self._find(tenant_id, subject_id)
        if existing is not None:
            return existing
        key_id = uuid.uuid4().hex
        key = aead.new_key()
        kek_id, wrapped = self.kek.wrap(key, wrap_context(tenant_id, subject_id, key_id))
        new = NewKey(
            tenant_id,
            subject_id,
            key_id,
            kek_id,
            base64.b64encode(wrapped).decode(),
            utc_now().isoformat(),
        )
        row = self.creations.store(new)
        if row is None:  # pragma: no cover - rows are never deleted, and the insert met one
            raise KeyDestroyed(f"subject {subject_id} has no key")
        if row["key_id"] == key_id:  # ours is the subject's key: no need to unwrap it back
            created = DataKey(key_id, key, kek_id)
            self.cache.put(subject_id, (tenant_id, created))
            return replace(created, created=True)
        return self._from_row(tenant_id, subject_id, row)  # another writer's key, or a fence

    def key_for_opening(self, tenant_id: UUID, subject_id: UUID) -> DataKey:
        found = self._find(tenant_id, subject_id)
        if found is None:
            raise KeyDestroyed(f"subject {subject_id} has no data key")
        return found

    def is_erased(self, tenant_id: UUID, subject_id: UUID) -> bool:
        """The fence, read without unwrapping the key: asking whether a subject may be
        processed at all is not an opening of its data (DESIGN invariant 12)."""
        cached = self.cache.get(subject_id)
        if cached is not None:
            return cached[0] != tenant_id
        with self.db.reading() as cur:
            row = cur.execute(
                "SELECT tenant_id, wrapped_key FROM subject_keys WHERE subject_id = :subject",
                {"subject": str(subject_id)},
            ).fetchone()
        return row is None or row["wrapped_key"] is None or row["tenant_id"] != str(tenant_id)

    def keys_for_opening(self, tenant_id: UUID, subject_ids: Sequence[UUID]) -> dict[UUID, DataKey]:
        """Cached keys, and the others read in one query per chunk rather than one each."""
        found: dict[UUID, DataKey] = {}
        missing = []
        for subject_id in dict.fromkeys(subject_ids):
            cached = self.cache.get(subject_id)
            if cached is None:
                missing.append(subject_id)
            elif cached[0] == tenant_id:
                found[subject_id] = cached[1]
        for start in range(0, len(missing), KEYS_PER_QUERY):
            found.update(self._read_keys(tenant_id, missing[start : start + KEYS_PER_QUERY]))
        return found

    def _read_keys(self, tenant_id: UUID, subject_ids: Sequence[UUID]) -> dict[UUID, DataKey]:
        ids, params = in_list("s", [str(s) for s in subject_ids])
        with self.db.reading() as cur:
            rows = cur.execute(
                "SELECT subject_id, tenant_id, key_id, kek_id, wrapped_key FROM subject_keys"
                f" WHERE subject_id IN ({ids})",
                params,
            ).fetchall()
        found = {}
        for row in rows:
            subject_id = UUID(str(row["subject_id"]))
            try:
                found[subject_id] = self._from_row(tenant_id, subject_id, row)
            except KeyDestroyed:
                continue
        return found

    def _find(self, tenant_id: UUID, subject_id: UUID) -> DataKey | None:
        cached = self.cache.get(subject_id)
        if cached is not None:
            owner, cached_key = cached
            if owner != tenant_id:
                raise KeyDestroyed(f"subject {subject_id} belongs to another tenant")
            return cached_key
        with self.db.reading() as cur:
            row = cur.execute(
                "SELECT tenant_id, key_id, kek_id, wrapped_key FROM subject_keys"
                " WHERE subject_id = :subject",
                {"subject": str(subject_id)},
            ).fetchone()
        return None if row is None else self._from_row(tenant_id, subject_id, row)

    def _from_row(self, tenant_id: UUID, subject_id: UUID, row: dict[str, Any]) -> DataKey:
        """Unwrap a stored row's key (and cache it); a fence or another tenant's row opens
        nothing."""
        if row["wrapped_key"] is None or row["tenant_id"] != str(tenant_id):
            raise KeyDestroyed(f"subject {subject_id} was erased")
        key = self.kek.unwrap(
            row["kek_id"],
            base64.b64decode(row["wrapped_key"]),
            wrap_context(tenant_id, subject_id, row["key_id"]),
        )
        found = DataKey(row["key_id"], key, row["kek_id"])
        self.cache.put(subject_id, (tenant_id, found))
        return found

    def key_rows(self, after_subject: str, limit: int) -> list[dict[str, object]]:
        """The keystore's rows (ids and times only, never key material), in subject order,
        from after ``after_subject``: for audits that walk the whole keystore in pages."""
        with self.db.reading() as cur:
            return cur.execute(
                "SELECT subject_id, tenant_id, key_id, created_at, destroyed_at"
                " FROM subject_keys WHERE subject_id > :after ORDER BY subject_id LIMIT :limit",
                {"after": after_subject, "limit": limit},
            ).fetchall()

    def destroy(self, tenant_id: UUID, subject_id: UUID, erasure_id: str) -> Destruction:
        """One statement path of constant cost: the row loses its key material and keeps
        the fence; ``wrapped_under`` remembers which KEK a backup would need, and the row
        remembers the erasure until its events are known to be stored."""
        self.cache.evict(subject_id)
        params = {
            "subject": str(subject_id),
            "tenant": str(tenant_id),
            "now": utc_now().isoformat(),
            "erasure": erasure_id,
        }
        with self.db.transaction() as cur:
            destruction = self._destroy_row(cur, params)
            if self.db.dialect == "postgres":  # delivered to every listener at the commit
                cur.execute(
                    "SELECT pg_notify(:channel, :subject)",
                    {"channel": DESTROYED_CHANNEL, "subject": params["subject"]},
                )
        self.cache.evict(subject_id)
        return destruction

    def follow_destructions(self, conninfo: str) -> None:
        """Evict at once the keys other processes destroy (:mod:`crypto.key_evictions`):
        for a keystore on PostgreSQL, reached at ``conninfo``."""
        if self.db.dialect == "postgres" and self._listener is None:
            self._listener = DestroyedKeyListener(conninfo, self.cache).start()

    def close(self) -> None:
        """Stop following destructions (the database is closed by its owner)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _destroy_row(self, cur: SqlCursor, params: dict[str, str]) -> Destruction:
        """Racing erasures (PostgreSQL's read committed lets them all read the row first)
        are told apart by the conditional INSERT or UPDATE: the one that changed a row is
        the first, and the others read its destruction back."""
        row = self._key_row(cur, params)
        if row is None:
            if self._fence(cur, params):
                return destruction_at(params["now"], "none", params["erasure"], already=False)
            row = self._key_row(cur, params)  # a racing first use, or erasure, came first
            assert row is not None  # the row the fence conflicted with
        if row["tenant_id"] != params["tenant"]:
            raise KeyDestroyed(f"subject {params['subject']} belongs to another tenant")
        if row["destroyed_at"] is None:
            destroyed = cur.execute(
                "UPDATE subject_keys SET wrapped_key = NULL, kek_id = NULL, destroyed_at = :now,"
                " wrapped_under = kek_id, erasure_id = :erasure"
                " WHERE subject_id = :subject AND destroyed_at IS NULL RETURNING key_id",
                params,
            ).fetchone()
            if destroyed is not None:
                return destruction_at(
                    params["now"], row["key_id"], params["erasure"], already=False
                )
            row = self._key_row(cur, params)  # a racing erasure destroyed it first
            assert row is not None  # a destroyed row is never deleted
        first = row["erasure_id"] or params["erasure"]  # rows from before erasure ids
        return destruction_at(row["destroyed_at"], row["key_id"], first, already=True)

    @staticmethod
    def _fence(cur: SqlCursor, params: dict[str, str]) -> bool:
        """Fence a subject that never had a key, so nothing can create one later; False when
        another writer's row got there first."""
        fenced = cur.execute(
            "INSERT INTO subject_keys (subject_id, tenant_id, key_id, created_at, destroyed_at,"
            " erasure_id) VALUES (:subject, :tenant, 'none', :now, :now, :erasure)"
            " ON CONFLICT (subject_id) DO NOTHING RETURNING key_id",
            params,
        ).fetchone()
        return fenced is not None

    @staticmethod
    def _key_row(cur: SqlCursor, params: dict[str, str]) -> dict[str, Any] | None:
        return cur.execute(
            "SELECT tenant_id, key_id, kek_id, destroyed_at, erasure_id FROM subject_keys"
            " WHERE subject_id = :subject",
            params,
        ).fetchone()

    def mark_recorded(self, subject_id: UUID) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE subject_keys SET recorded_at = :now"
                " WHERE subject_id = :subject AND recorded_at IS NULL",
                {"subject": str(subject_id), "now": utc_now().isoformat()},
            )

    def destroyed_count(self) -> int:
        """How many keys (not fences of subjects that never had one) are destroyed."""
        with self.db.reading() as cur:
            row = cur.execute(
                "SELECT COUNT(*) AS n FROM subject_keys"
                " WHERE destroyed_at IS NOT NULL AND key_id <> 'none'"
            ).fetchone()
        return int(row["n"]) if row else 0

    def live_among(self, subject_ids: list[str]) -> set[str]:
        """Which of ``subject_ids`` have a key that is not destroyed."""
        if not subject_ids:
            return set()
        ids, params = in_list("s", subject_ids)
        with self.db.reading() as cur:
            rows = cur.execute(
                "SELECT subject_id FROM subject_keys WHERE destroyed_at IS NULL"
                f" AND subject_id IN ({ids})",
                params,
            ).fetchall()
        return {str(r["subject_id"]) for r in rows}

    def unrecorded_erasures(self, limit: int = 100) -> list[dict[str, Any]]:
        """Destroyed keys whose erasure is not known to be recorded in the event store: a
        process that died between the two, or a keystore from before the bookkeeping."""
        with self.db.reading() as cur:
            return cur.execute(
                "SELECT subject_id, tenant_id, key_id, destroyed_at, erasure_id"
                " FROM subject_keys WHERE destroyed_at IS NOT NULL AND recorded_at IS NULL"
                " ORDER BY destroyed_at LIMIT :limit",
                {"limit": limit},
            ).fetchall()
