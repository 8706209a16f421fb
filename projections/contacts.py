"""The contacts read model: sealed fields as stored in events, plus blind indexes for lookup.

Rows hold ciphertext only (``<version>:<token>`` per field); the API opens them with the
subject's key. Erasure blanks the row's sealed fields and its blind indexes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from crypto.blind_index import BlindIndex
from crypto.errors import KeyDestroyed
from crypto.sealer import SubjectSealer
from domain.contact import PERSONAL_FIELDS, Contact
from projections.runner import ReadModelProjection
from projections.store import Write

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

    def __init__(self, sealer: SubjectSealer, blind_index: BlindIndex) -> None:
        self.sealer = sealer
        self.blind_index = blind_index

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
            opened = self.sealer.open_fields(UUID(tenant_id), event.originator_id, wanted)
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
