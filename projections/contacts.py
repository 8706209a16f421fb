"""The contacts read model: sealed fields as stored in events, plus blind indexes for lookup.

Rows hold ciphertext only (``<version>:<token>`` per field); the API opens them with the
subject's key. Erasure blanks the row's sealed fields and its blind indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from uuid import UUID

from crypto.blind_index import BlindIndex
from crypto.sealer import StorageOpenings, SubjectSealer
from domain.contact import PERSONAL_FIELDS, Contact
from projections.limits import limits_column
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


# Every column a new row is written with, in order: one INSERT statement for all of them.
ROW_COLUMNS = (
    "tenant_id",
    "version",
    *(f"f_{f}" for f in PERSONAL_FIELDS),
    "email_index",
    "phone_index",
    "erased",
    "created_at",
    "updated_at",
)
_INSERT = (
    f"INSERT INTO contacts_view (id, {', '.join(ROW_COLUMNS)})"
    f" VALUES (:id, {', '.join(f':{c}' for c in ROW_COLUMNS)})"
)
_ERASED = {
    **{f"f_{f}": None for f in PERSONAL_FIELDS},
    "email_index": None,
    "phone_index": None,
    "erased": 1,
}


@dataclass
class RowChange:
    """One event's effect on its contacts_view row: a new row, or columns set on it.

    Every column is set to a value, never to an expression of the row, so later changes to
    the same row fold into an earlier one by overwriting its columns: a batch then costs
    one write per row it touches instead of one per event. Times stay datetimes until the
    write, so folded-over events are never formatted.
    """

    id: UUID
    new: bool
    columns: dict[str, Any]

    def absorb(self, later: RowChange) -> bool:
        """Fold ``later`` into this change; False for a second new row, which must fail on
        the primary key as it would applied alone."""
        if later.new:
            return False
        self.columns.update(later.columns)
        return True

    def write(self) -> Write:
        params = {**self.columns, "id": str(self.id)}
        for column in _TIMES.intersection(params):
            params[column] = params[column].isoformat()
        if self.new:
            row = {c: params.get(c) for c in ROW_COLUMNS}
            return _INSERT, {**row, "erased": row["erased"] or 0, "id": params["id"]}
        names = sorted(self.columns)  # one statement per set of columns, whatever the order
        sets = ", ".join(f"{c} = :{c}" for c in names)
        return f"UPDATE contacts_view SET {sets} WHERE id = :id", params


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
        return self.writes_for_batch([(position, event)])

    def writes_for_batch(self, events: Sequence[tuple[int, Any]]) -> list[Write]:
        """The writes of a run of events, changes to one row folded into one write, and
        the values to index opened with one keystore read per tenant (a rebuild's batch)."""
        changes = [(e, change) for _, e in events if (change := _change(e)) is not None]
        self._add_indexes(changes)
        return _folded([change for _, change in changes])

    def _add_indexes(self, changes: Sequence[tuple[Any, RowChange]]) -> None:
        """Give each change the blind indexes of the fields its event seals."""
        by_tenant: dict[str, list[tuple[RowChange, dict[str, tuple[int, str]]]]] = {}
        for event, change in changes:
            if wanted := _to_index(event):
                by_tenant.setdefault(event.tenant_id, []).append((change, wanted))
        for tenant_id, picked in by_tenant.items():
            tenant = UUID(tenant_id)
            requests = [(change.id, wanted) for change, wanted in picked]
            found = self.sealer.open_subjects(tenant, requests, self.storage)
            for (change, wanted), opened in zip(picked, found, strict=True):
                opened = opened or {}  # None: the subject's key is destroyed
                change.columns.update(
                    {f"{f}_index": self._digest(tenant, f, opened) for f in wanted}
                )

    def _digest(self, tenant_id: UUID, field: str, opened: dict[str, Any]) -> str | None:
        if field not in opened:
            return None
        return self.blind_index.digest(tenant_id, field, opened[field])


def _folded(changes: Sequence[RowChange]) -> list[Write]:
    """One write per row (or more, where a row is registered twice and must fail so)."""
    latest: dict[UUID, RowChange] = {}
    kept: list[RowChange] = []
    for change in changes:
        earlier = latest.get(change.id)
        if earlier is None or not earlier.absorb(change):
            latest[change.id] = change
            kept.append(change)
    writes = [change.write() for change in kept]
    if len(latest) == len(kept):  # rows all distinct: any order, so group the statements
        writes.sort(key=itemgetter(0))
    return writes


_TIMES = frozenset({"created_at", "updated_at"})
_CELL = {f: f"f_{f}" for f in PERSONAL_FIELDS}


def _to_index(event: Any) -> dict[str, tuple[int, str]]:
    """The indexed fields an event seals, as the sealer opens them: (version, token)."""
    if isinstance(event, Contact.Erased):
        return {}
    version, sealed = event.originator_version, event.sealed
    return {f: (version, sealed[f]) for f in INDEXED_FIELDS if f in sealed}


def _registered(event: Contact.Registered) -> RowChange:
    columns: dict[str, Any] = {_CELL[f]: f"1:{t}" for f, t in event.sealed.items()}
    at = event.timestamp
    columns.update(tenant_id=event.tenant_id, version=1, created_at=at, updated_at=at)
    return RowChange(event.originator_id, True, columns)


def _updated(event: Contact.Updated) -> RowChange:
    version = event.originator_version
    columns: dict[str, Any] = {_CELL[f]: f"{version}:{t}" for f, t in event.sealed.items()}
    if event.cleared:
        cleared = {_CELL[f]: None for f in event.cleared}
        cleared.update({f"{f}_index": None for f in INDEXED_FIELDS if f in event.cleared})
        columns = {**cleared, **columns}
    columns["version"] = version
    columns["updated_at"] = event.timestamp
    return RowChange(event.originator_id, False, columns)


def _erased(event: Contact.Erased) -> RowChange:
    columns = {**_ERASED, "version": event.originator_version, "updated_at": event.timestamp}
    return RowChange(event.originator_id, False, columns)


Maker = Callable[[Any], RowChange]
_MAKERS: tuple[tuple[type, Maker], ...] = (
    (Contact.Registered, _registered),
    (Contact.Updated, _updated),
    (Contact.Erased, _erased),
)
_MAKER_OF: dict[type, Maker | None] = {}  # per event class, found once: events are many


def _change(event: Any) -> RowChange | None:
    kind = type(event)
    if kind not in _MAKER_OF:
        _MAKER_OF[kind] = next((m for cls, m in _MAKERS if issubclass(kind, cls)), None)
    make = _MAKER_OF[kind]
    return None if make is None else make(event)


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
    matching the blind indexes given, each with its processing limits."""
    sql = (
        f"SELECT c.*, {limits_column(store.dialect, 'c.id', 'c.tenant_id')} FROM contacts_view c"
        " WHERE c.tenant_id = :tenant AND c.erased = 0 AND c.id > :after"
    )
    params: dict[str, Any] = {"tenant": str(tenant_id), "after": after}
    if email_index is not None:
        sql += " AND c.email_index = :email"
        params["email"] = email_index
    if phone_index is not None:
        sql += " AND c.phone_index = :phone"
        params["phone"] = phone_index
    return store.query(f"{sql} ORDER BY c.id LIMIT {int(limit) + 1}", params)


def contact_row(store: ReadModelStore, tenant_id: UUID, contact_id: UUID) -> dict[str, Any] | None:
    """One contact of the tenant's, still sealed (erased ones too: ``erased`` says so), with
    its processing limits: one statement for what a read needs before it opens anything."""
    rows = store.query(
        f"SELECT c.*, {limits_column(store.dialect, 'c.id', 'c.tenant_id')} FROM contacts_view c"
        " WHERE c.id = :id AND c.tenant_id = :tenant",
        {"id": str(contact_id), "tenant": str(tenant_id)},
    )
    return rows[0] if rows else None


def sealed_fields(row: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """A contacts_view row's sealed cells: field -> (version that sealed it, token)."""
    return {f: parse_cell(row[f"f_{f}"]) for f in PERSONAL_FIELDS if row[f"f_{f}"]}
