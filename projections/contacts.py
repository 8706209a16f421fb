"""The contacts read model: sealed fields as stored in events, plus blind indexes for lookup.

Rows hold ciphertext only (``<version>:<token>`` per field); the API opens them with the
subject's key. Erasure blanks the row's sealed fields and its blind indexes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from crypto.blind_index import BlindIndex
from crypto.errors import KeyDestroyed
from crypto.sealer import StorageOpenings, SubjectSealer
from domain.contact import PERSONAL_FIELDS, Contact
from projections.runner import ReadModelProjection
from projections.store import ReadModelStore, Write

INDEXED_FIELDS = ("email", "phone")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS contacts_view (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        """
    + ",\n".join(f"f_{f} TEXT" for f in PERSONAL_FIELDS)
    + """,
        email_index TEXT,
        phone_index TEXT,
        erased INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS contacts_view_email ON contacts_view (tenant_id, email_index)",
    "CREATE INDEX IF NOT EXISTS contacts_view_phone ON contacts_view (tenant_id, phone_index)",
]


def parse_cell(cell: str) -> tuple[int, str]:
    version, token = cell.split(":", 1)
    return int(version), token


class ContactsProjection(ReadModelProjection):
    name = "contacts"
    schema = SCHEMA

    def __init__(
        self, sealer: SubjectSealer, blind_index: BlindIndex, storage: StorageOpenings
    ) -> None:
        self.sealer = sealer
        self.blind_index = blind_index
        self.storage = storage  # opening to index is storage, not a use: recorded per run

    def writes_for(self, event: Any, position: int) -> list[Write]:
        if isinstance(event, Contact.Registered):
            return [self._registered(event)]
        if isinstance(event, Contact.Updated):
            return [self._updated(event)]
        if isinstance(event, Contact.Erased):
            return [self._erased(event)]
        return []

    def _indexes(self, tenant_id: str, event: Any) -> dict[str, str | None]:
        wanted = {
            f: (event.originator_version, event.sealed[f])
            for f in INDEXED_FIELDS
            if f in event.sealed
        }
        try:
            opened = self.sealer.open_fields(
                UUID(tenant_id), event.originator_id, wanted, self.storage
            )
        except KeyDestroyed:
            opened = {}
        return {
            f"{f}_index": self.blind_index.digest(UUID(tenant_id), f, opened[f])
            if f in opened
            else None
            for f in wanted
        }

    def _registered(self, event: Contact.Registered) -> Write:
        params: dict[str, Any] = {f"f_{f}": None for f in PERSONAL_FIELDS}
        params.update({f"f_{f}": f"1:{t}" for f, t in event.sealed.items()})
        params.update({"email_index": None, "phone_index": None})
        params.update(self._indexes(event.tenant_id, event))
        columns = ", ".join(params)
        values = ", ".join(f":{c}" for c in params)
        params.update(
            id=str(event.originator_id),
            tenant_id=event.tenant_id,
            at=event.timestamp.isoformat(),
        )
        return (
            f"INSERT INTO contacts_view (id, tenant_id, version, {columns}, created_at,"
            f" updated_at) VALUES (:id, :tenant_id, 1, {values}, :at, :at)",
            params,
        )

    def _updated(self, event: Contact.Updated) -> Write:
        params: dict[str, Any] = {f"f_{f}": None for f in event.cleared}
        params.update(
            {f"f_{f}": f"{event.originator_version}:{t}" for f, t in event.sealed.items()}
        )
        params.update({f"{f}_index": None for f in INDEXED_FIELDS if f in event.cleared})
        if any(f in event.sealed for f in INDEXED_FIELDS):
            params.update(self._indexes(event.tenant_id, event))
        sets = "".join(f", {c} = :{c}" for c in params)
        params.update(
            id=str(event.originator_id),
            version=event.originator_version,
            at=event.timestamp.isoformat(),
        )
        return (
            f"UPDATE contacts_view SET version = :version, updated_at = :at{sets} WHERE id = :id",
            params,
        )

    def _erased(self, event: Contact.Erased) -> Write:
        blanks = ", ".join(f"f_{f} = NULL" for f in PERSONAL_FIELDS)
        return (
            f"UPDATE contacts_view SET version = :version, updated_at = :at, erased = 1,"
            f" {blanks}, email_index = NULL, phone_index = NULL WHERE id = :id",
            {
                "id": str(event.originator_id),
                "version": event.originator_version,
                "at": event.timestamp.isoformat(),
            },
        )


def contact_rows(
    store: ReadModelStore,
    tenant_id: UUID,
    *,
    email_index: str | None,
    phone_index: str | None,
    after: str,
    limit: int,
) -> list[dict[str, Any]]:
    """Live contacts of a tenant by id after ``after`` (``limit + 1`` rows, still sealed),
    matching the blind indexes given."""
    sql = "SELECT * FROM contacts_view WHERE tenant_id = :tenant AND erased = 0 AND id > :after"
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if email_index is not None:
        sql += " AND email_index = :email"
        params["email"] = email_index
    if phone_index is not None:
        sql += " AND phone_index = :phone"
        params["phone"] = phone_index
    return store.query(f"{sql} ORDER BY id LIMIT {int(limit) + 1}", params)


def contact_row(store: ReadModelStore, tenant_id: UUID, contact_id: UUID) -> dict[str, Any] | None:
    """One contact of the tenant's, still sealed (erased ones too: ``erased`` says so)."""
    rows = store.query(
        "SELECT * FROM contacts_view WHERE id = :id AND tenant_id = :tenant",
        {"id": str(contact_id), "tenant": str(tenant_id)},
    )
    return rows[0] if rows else None


def sealed_fields(row: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """A contacts_view row's sealed cells: field -> (version that sealed it, token)."""
    return {f: parse_cell(row[f"f_{f}"]) for f in PERSONAL_FIELDS if row[f"f_{f}"]}
